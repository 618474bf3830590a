"""Norm-adapted gradient descent as a ``scipy.optimize.minimize`` method.

``nagd`` is a custom method for ``scipy.optimize.minimize(..., method=nagd)``;
``minimize`` runs the same algorithm without going through scipy. Both end in
one driver:

* the Python loop, which calls any ``fun``/``jac`` (one compiled helper call per
  iteration does the stopping tests and the step), or
* the compiled whole loop `_compiled_loop`, used when ``fun`` and ``jac`` are
  Numba-jitted functions and no ``callback``/``return_all`` asks for Python
  work between iterations. Both give bit-identical iterates: they share
  `_advance`, which holds every test and the step.

Iteration count convention
--------------------------
``x_0 = x0`` is iterate 0 and ``x_k`` the point after ``k`` steps; ``nit`` is
the number of steps taken, so the returned point is ``x_nit``. ``f`` and the
gradient are evaluated at every iterate, the final one included, so with an
analytic ``jac`` ``nfev == njev == nit + 1`` (except after status 2). The
paper numbers iterates from 1 (``x_0`` is step 1): its "steps to reach
``f <= t``" is ``nit + 1`` of a run with ``tol=t`` and ``lower_bound=0``.
"""
import inspect
import math
import operator
import warnings

import numpy as np
from numba import njit
from scipy.optimize import OptimizeResult, OptimizeWarning, approx_fprime

from . import _validation as _v
from . import kernels

__all__ = ["nagd", "minimize"]

_STATUS_MESSAGES = {
    0: "Optimization terminated successfully.",
    1: "Maximum number of iterations has been exceeded.",
    2: "A non-finite value of the objective or of its gradient was met; the last finite iterate is returned.",
    3: "The objective fell below lower_bound: the lower bound is wrong (it must not exceed the minimum of f).",
    4: "The stopping rule `stop` fired: the step size has stopped falling.",
    99: "`callback` raised `StopIteration`.",
}

# Codes returned by _advance besides the statuses above.
_STEPPED = -1      # a step was written into `out`; continue
_BAD_SHAPE = -2    # jac returned an array of the wrong length (compiled loop only)
_BAD_NEXT = -3     # the next iterate would not be finite: status 2 at the current one


@njit(cache=True, inline="always")
def _advance(x, g, out, f, lower_bound, alpha, max_lr, tol, gtol2, lr, may_step):
    """Test iterate x (finite f, gradient g) and, unless it stops there, write the next iterate into out.

    Returns 2 (NaN/inf in g or ||g||^2 overflows; out untouched), 3 (f < L - tol), 0 (f - L <= tol
    or ||g||^2 <= gtol2), 1 (not may_step), -3 (the next iterate has a NaN/inf entry) or -1
    (out = x - step*g with step = lr if lr > 0, else min(max_lr, alpha*(f - L)/||g||^2)).
    Changes out only. ||g||^2 and the step are kernels.sq_norm and kernels.polyak_lr, which
    Numba inlines here (as it inlines this function into the compiled loop: a call to a
    separately compiled function costs about as much as a whole 2-D iteration).
    """
    n = g.shape[0]
    gg = kernels.sq_norm(g)
    if not (gg < math.inf):
        return 2
    gap = f - lower_bound
    if gap < -tol:
        return 3
    if gap <= tol or gg <= gtol2:
        return 0
    if not may_step:
        return 1
    if lr > 0.0:
        step = lr
    else:
        step = kernels.polyak_lr(gg, gap, alpha, max_lr, 0.0)
        if step == 0.0:                        # f - L > 0 and g != 0 here: the step overflowed
            return _BAD_NEXT
    check = 0.0
    for i in range(n):
        out[i] = x[i] - step * np.float64(g[i])
        check += out[i] * 0.0                  # NaN as soon as one stored entry is inf or NaN
    if check != 0.0:
        return _BAD_NEXT
    return _STEPPED


@njit
def _compiled_loop(fun, jac, x0, args, lower_bound, alpha, max_lr, tol, gtol, maxiter, lr, ftrace):
    """Run the whole iteration in compiled code.

    Parameters
    ----------
    fun, jac : Numba-jitted functions
        ``fun(x, *args) -> float`` and ``jac(x, *args) -> ndarray of shape (n,)``.
    x0 : ndarray of shape (n,), float32 or float64
        Starting point; not modified. Iterates keep its dtype (each entry of a step is
        computed in float64 and rounded to the dtype once).
    args : tuple
        Extra arguments of fun and jac (``()`` for none).
    lower_bound, alpha, max_lr, tol, gtol : float
        As the options of `nagd` (``max_lr=inf`` for no cap). Stopping tests: status 3 if
        ``f < L - tol``, status 0 if ``f - L <= tol`` or ``||g|| <= gtol``.
    maxiter : int
        Largest number of steps.
    lr : float
        0.0 for the NaGD step; a positive value runs plain gradient descent with this fixed
        step instead (``alpha`` and ``max_lr`` are then unused), e.g. to time SGD on the
        same loop.
    ftrace : ndarray of shape (m,), float64
        Receives ``f(x_k)`` at index k for k < m (pass ``np.empty(0)`` for no trace).

    Returns
    -------
    status : int
        A status of `_STATUS_MESSAGES`, or -2 if jac returned an array of the wrong length.
    nit : int
        Steps taken: the returned x is iterate ``x_nit`` (iterate 0 is x0).
    nfev, njev : int
        Calls of fun and jac.
    x : ndarray of shape (n,)
        Final iterate; with status 2 the last iterate at which f and the gradient were
        finite (x0 itself if f(x0) was not finite), so never NaN.
    f : float
        f(x) (the non-finite value if f(x0) was not finite).
    g : ndarray of shape (n,)
        Gradient at x (NaN-filled if it was never computed).
    """
    n = x0.shape[0]
    x = x0.copy()
    nxt = np.empty_like(x0)                    # after a step: the previous iterate
    prev_f = np.nan
    prev_g = np.full(n, np.nan)
    gtol2 = gtol * gtol
    nfev = 0
    njev = 0
    k = 0
    while True:
        f = float(fun(x, *args))
        nfev += 1
        if k < ftrace.shape[0]:
            ftrace[k] = f
        if not math.isfinite(f):
            if k == 0:
                return 2, 0, nfev, njev, x, f, prev_g
            return 2, k - 1, nfev, njev, nxt, prev_f, prev_g
        g = jac(x, *args)
        njev += 1
        if g.shape[0] != n:
            return _BAD_SHAPE, k, nfev, njev, x, f, np.full(g.shape[0], np.nan)
        code = _advance(x, g, nxt, f, lower_bound, alpha, max_lr, tol, gtol2, lr, k < maxiter)
        if code != _STEPPED:
            if code == 2 and k > 0:
                return 2, k - 1, nfev, njev, nxt, prev_f, prev_g
            gout = np.empty(n)
            for i in range(n):
                gout[i] = g[i]
            if code == _BAD_NEXT:
                code = 2
            return code, k, nfev, njev, x, f, gout
        prev_f = f
        for i in range(n):
            prev_g[i] = g[i]
        x, nxt = nxt, x
        k += 1


def _is_jitted(func):
    """True if func is a Numba CPU dispatcher (False under NUMBA_DISABLE_JIT)."""
    try:
        from numba.core.registry import CPUDispatcher
    except ImportError:  # pragma: no cover - numba layout changed
        return False
    return isinstance(func, CPUDispatcher)


def _scalar(value):
    """Return fun's value as a Python float; ValueError/TypeError for anything but one real number."""
    arr = np.asarray(value)
    if arr.size != 1:
        raise ValueError(f"fun must return a scalar, got an array of shape {arr.shape}")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"fun must return a real number, got {value!r}")
    return float(arr.reshape(()))


def _gradient(value, n):
    """Return jac's value as a contiguous float64 array of shape (n,), or raise ValueError."""
    g = np.asarray(value)
    if g.shape != (n,):
        raise ValueError(f"jac must return an array of shape ({n},) like x0, got shape {g.shape}")
    if g.dtype.kind not in "biuf":
        raise TypeError(f"jac must return real numbers, got dtype {g.dtype}")
    return np.ascontiguousarray(g, dtype=np.float64)


def _check_options(options):
    alpha = _v.alpha(options["alpha"])
    lower_bound = _v.finite("lower_bound", options["lower_bound"])
    max_lr = _v.max_lr(options["max_lr"])
    maxiter = options["maxiter"]
    if isinstance(maxiter, (bool, np.bool_)):
        raise TypeError(f"maxiter must be a non-negative integer, got {maxiter!r}")
    try:
        maxiter = operator.index(maxiter)
    except TypeError:
        raise TypeError(f"maxiter must be a non-negative integer, got {maxiter!r}") from None
    if maxiter < 0:
        raise ValueError(f"maxiter must be a non-negative integer, got {maxiter!r}")
    tol = _v.nonnegative("tol", options["tol"])
    gtol = _v.nonnegative("gtol", options["gtol"])
    compiled = options["compiled"]
    if compiled not in (None, True, False):
        raise ValueError(f"compiled must be None, True or False, got {compiled!r}")
    return alpha, lower_bound, max_lr, maxiter, tol, gtol, compiled


def _x0(x0):
    """Copy x0 to a new float64 1-D array (0-d becomes shape (1,)); reject other shapes and non-finite values."""
    try:
        x = np.array(x0, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"x0 must be an array of real numbers, got {x0!r}") from None
    if x.ndim == 0:
        x = x.reshape(1)
    if x.ndim != 1:
        raise ValueError(f"x0 must be 1-D (or a scalar), got shape {x.shape}")
    if x.size == 0:
        raise ValueError("x0 must have at least one element, got shape (0,)")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"x0 must be finite, got {x0!r}")
    return x


def _callback_kind(callback):
    """0 for no callback, 1 for callback(xk), 2 for callback(intermediate_result)."""
    if callback is None:
        return 0
    if not callable(callback):
        raise TypeError(f"callback must be callable or None, got {callback!r}")
    try:
        params = inspect.signature(callback).parameters
    except (TypeError, ValueError):  # some builtins have no signature
        return 1
    return 2 if set(params) == {"intermediate_result"} else 1


class _Memoized:
    """Split fun(x) -> (f, g) into fun and jac calling the user's function once per point."""

    def __init__(self, fun):
        self.fun = fun
        self.x = None
        self.g = None

    def value(self, x, *args):
        f, g = self.fun(x, *args)
        self.x, self.g = x.copy(), g
        return f

    def jac(self, x, *args):
        if self.x is None or not np.array_equal(x, self.x):
            self.value(x, *args)
        return self.g


def _python_loop(fun, jac, x, args, lower_bound, alpha, max_lr, maxiter, tol, gtol, callback, kind, allvecs):
    """The same iteration as `_compiled_loop` for any Python callables; see it for the results."""
    n = x.shape[0]
    nxt = np.empty_like(x)                      # after a step: the previous iterate
    gtol2 = gtol * gtol
    nfev = njev = k = 0
    fd = jac is None
    if fd:
        cur_f = None
        eps = math.sqrt(np.finfo(float).eps)

        def fd_fun(xx, *a):
            nonlocal nfev
            if xx is x:                         # approx_fprime re-evaluates the base point: reuse f
                return cur_f
            nfev += 1
            return fun(xx, *a)

    if args:                                    # fun(x, *args) costs a tuple per call: bind once
        fun1, jac1 = (lambda xx: fun(xx, *args)), (None if fd else (lambda xx: jac(xx, *args)))
    else:
        fun1, jac1 = fun, jac
    advance, isfinite, ndarray, f64 = _advance, math.isfinite, np.ndarray, np.dtype(np.float64)
    prev_f = prev_g = None                      # f and g of the previous iterate
    while True:
        f = fun1(x)
        nfev += 1
        if not isinstance(f, float):
            f = _scalar(f)
        if not isfinite(f):
            if prev_g is None:
                return 2, 0, nfev, njev, x, f, np.full(n, np.nan)
            return 2, k - 1, nfev, njev, nxt, prev_f, prev_g
        if fd:
            cur_f = f
            g = approx_fprime(x, fd_fun, eps, *args)
        else:
            g = jac1(x)
            njev += 1
        if type(g) is not ndarray or g.dtype is not f64 or g.ndim != 1 or len(g) != n:   # any layout is fine
            g = _gradient(g, n)
        if g is prev_g:                         # jac reuses one buffer: keep the previous gradient intact
            prev_g = prev_g.copy()
        code = advance(x, g, nxt, f, lower_bound, alpha, max_lr, tol, gtol2, 0.0, k < maxiter)
        if code == 2:
            if prev_g is None:
                return 2, 0, nfev, njev, x, f, g
            return 2, k - 1, nfev, njev, nxt, prev_f, prev_g
        if kind and k > 0:
            try:
                if kind == 2:
                    callback(intermediate_result=OptimizeResult(x=x.copy(), fun=f, jac=g.copy(), nit=k))
                else:
                    callback(x.copy())
            except StopIteration:
                return 99, k, nfev, njev, x, f, g
        if code != _STEPPED:
            return (2 if code == _BAD_NEXT else code), k, nfev, njev, x, f, g
        prev_f, prev_g = f, g
        x, nxt = nxt, x
        k += 1
        if allvecs is not None:
            allvecs.append(x.copy())


def _solve(fun, x0, args, jac, callback, options, unknown, ignored, stacklevel):
    if unknown:
        warnings.warn(f"Unknown solver options: {', '.join(sorted(unknown))}", OptimizeWarning,
                      stacklevel=stacklevel)
    if ignored:
        warnings.warn(f"nagd ignores {', '.join(ignored)}: it is an unconstrained first-order method",
                      OptimizeWarning, stacklevel=stacklevel)
    if not callable(fun):
        raise TypeError(f"fun must be callable, got {fun!r}")
    alpha, lower_bound, max_lr, maxiter, tol, gtol, compiled = _check_options(options)
    disp, return_all = bool(options["disp"]), bool(options["return_all"])
    x = _x0(x0)
    if not isinstance(args, tuple):
        args = (args,)
    if jac is True:
        memo = _Memoized(fun)
        fun, jac = memo.value, memo.jac
    elif jac is None or jac is False or (isinstance(jac, str) and jac == "2-point"):
        jac = None
    elif not callable(jac):
        raise ValueError(f"jac must be a callable, True, None or '2-point', got {jac!r}")
    kind = _callback_kind(callback)
    fired = []
    if options["stop"] is not None:                 # a stopping rule rides on the callback hook
        callback, kind = _stopping_callback(options["stop"], callback, kind, fired), 2

    can_compile = _is_jitted(fun) and _is_jitted(jac) and not kind and not return_all
    if compiled and not can_compile:
        raise ValueError("compiled=True needs Numba-jitted fun and jac, no callback and return_all=False")
    result = None
    if can_compile and compiled is not False:
        from numba.core.errors import TypingError
        try:
            result = _compiled_loop(fun, jac, x, args, lower_bound, alpha, max_lr, tol, gtol, maxiter,
                                    0.0, np.empty(0))
        except TypingError:
            if compiled:
                raise
            result = None                       # e.g. fun returns an array: the Python loop explains
        if result is not None:
            status, nit, nfev, njev, xr, f, g = result
            if status == _BAD_SHAPE:
                raise ValueError(f"jac must return an array of shape ({x.shape[0]},) like x0, "
                                 f"got length {len(g)}")
            allvecs = None
    if result is None:
        allvecs = [x.copy()] if return_all else None
        status, nit, nfev, njev, xr, f, g = _python_loop(
            fun, jac, x, args, lower_bound, alpha, max_lr, maxiter, tol, gtol, callback, kind, allvecs)
        if allvecs is not None:
            del allvecs[nit + 1:]               # status 2 steps back to the last finite iterate
    if status == 99 and fired:
        status = 4
    message = _STATUS_MESSAGES[status]
    if status == 3:
        message += f" f = {f!r} < lower_bound = {lower_bound!r}."
    res = OptimizeResult(x=np.array(xr, dtype=np.float64), fun=float(f), jac=np.array(g, dtype=np.float64),
                         nit=int(nit), nfev=int(nfev), njev=int(njev), status=int(status),
                         success=status in (0, 4), message=message)
    if return_all:
        res.allvecs = allvecs
    if disp:
        print(message)
        print(f"         Current function value: {res.fun:f}")
        print(f"         Iterations: {res.nit:d}")
        print(f"         Function evaluations: {res.nfev:d}")
        print(f"         Gradient evaluations: {res.njev:d}")
    return res


_DEFAULTS = {"alpha": 1.0, "lower_bound": 0.0, "max_lr": 1.0, "maxiter": 10_000, "tol": 1e-8,
             "gtol": 1e-8, "disp": False, "return_all": False, "compiled": None, "stop": None}


class _RuleFired(StopIteration):
    """Raised inside the callback hook when the `stop` rule fires."""


def _stopping_callback(rule, callback, kind, fired):
    """A callback(intermediate_result) that feeds each step's size to rule.update, then the user's callback."""
    update = getattr(rule, "update", None)
    if not callable(update):
        raise TypeError(f"stop must have an update(lr) method, got {rule!r}")
    prev = []

    def hook(intermediate_result):
        if kind == 2:
            callback(intermediate_result=intermediate_result)
        elif kind == 1:
            callback(intermediate_result.x.copy())
        x, g = intermediate_result.x, intermediate_result.jac
        if prev:
            x0, g0 = prev
            gg = float(g0 @ g0)                 # the step size of x0 -> x: g0.(x0 - x)/|g0|^2
            if gg > 0.0 and update(float(g0 @ (x0 - x)) / gg):
                fired.append(True)
                raise _RuleFired
        prev[:] = [x, g]

    return hook


def nagd(fun, x0, args=(), jac=None, hess=None, hessp=None, bounds=None, constraints=None,
         callback=None, **options) -> OptimizeResult:
    r"""Minimize a function by norm-adapted gradient descent: a ``scipy.optimize.minimize`` method.

    Pass it as ``method=nagd``; scipy calls it with the arguments below and the
    ``options`` dict (and a ``tol=`` given to ``minimize`` as ``options['tol']``).

    Parameters
    ----------
    fun : callable
        ``fun(x, *args) -> float``, the objective; ``x`` is an ndarray of shape (n,), float64.
    x0 : array_like of shape (n,)
        Starting point, finite. It is copied to float64 and never modified; a scalar
        counts as shape (1,); more than one dimension raises ValueError (as scipy does).
    args : tuple, optional
        Extra arguments of ``fun`` and ``jac``.
    jac : callable or None, optional
        ``jac(x, *args) -> ndarray of shape (n,)``, the gradient. ``None`` (also what scipy
        passes for ``'2-point'`` and the others) estimates it by forward differences with
        `scipy.optimize.approx_fprime` (absolute step ``sqrt(eps)``), n more ``fun`` calls per
        gradient, counted in ``nfev``. ``scipy.optimize.minimize(..., jac=True)`` hands us an
        already split ``fun``/``jac`` pair.
    hess, hessp, bounds, constraints : optional
        Not used: given (not None and not empty), they raise an ``OptimizeWarning``.
    callback : callable, optional
        Called after each step: ``callback(intermediate_result)`` with an ``OptimizeResult``
        holding ``x``, ``fun``, ``jac`` and ``nit`` if that is its only parameter's name, else
        ``callback(xk)`` with a copy of the iterate. Raising ``StopIteration`` ends the run
        with status 99.
    **options
        alpha : float, default 1.0
            Fraction of ``f - L`` each step aims to remove, in (0, 2]; outside raises
            ValueError (the paper's range; above 2 the step overshoots the linear model's root).
        lower_bound : float, default 0.0
            ``L``, a known lower bound of ``f``. Too high stalls at ``f = L`` (or ends with
            status 3), far too low makes steps too long.
        max_lr : float or None, default 1.0
            Cap on the step size; None for none.
        maxiter : int, default 10000
            Largest number of steps.
        tol : float, default 1e-8
            Stop (status 0) once ``f - L <= tol``.
        gtol : float, default 1e-8
            Stop (status 0) once ``||g|| <= gtol``.
        disp : bool, default False
            Print a summary at the end.
        return_all : bool, default False
            Add ``allvecs``, the list of iterates ``x_0 ... x_nit``.
        compiled : bool or None, default None
            Run the whole loop in compiled code. None: whenever ``fun`` and ``jac`` are
            Numba-jitted and there is no callback or return_all; False: never; True: always
            (ValueError if impossible). Both loops give bit-identical iterates.
        stop : object or None, default None
            A stopping rule such as `nagd.diagnostics.OscillationStop`: its ``update(lr) -> bool``
            receives the size of every step after the first; the run ends with status 4 once
            it returns True. It runs the Python loop.

        Other names raise an ``OptimizeWarning`` ("Unknown solver options") and are ignored.

    Returns
    -------
    OptimizeResult
        ``x`` (ndarray of shape (n,), float64), ``fun``, ``jac`` (the gradient at ``x``),
        ``nit`` (steps taken), ``nfev``, ``njev`` (calls of ``fun``/``jac``; finite differences
        count in ``nfev``), ``status``, ``success`` (status 0 or 4) and ``message``; ``allvecs``
        with ``return_all``. Status: 0 converged (``f - L <= tol`` or ``||g|| <= gtol``);
        1 ``maxiter`` reached; 2 a non-finite ``f``, gradient or next iterate (the last
        iterate at which all were finite is returned, so ``x`` is never NaN); 3 ``f < L - tol``,
        the lower bound is wrong (``x`` is the point that shows it); 4 the ``stop`` rule
        fired; 99 ``callback`` raised ``StopIteration``.

    Raises
    ------
    ValueError
        Bad options or ``x0`` (see above), ``fun`` returning more than one number, ``jac``
        returning an array of the wrong shape.
    TypeError
        Non-numeric ``x0``, options or return values.

    Notes
    -----
    Each step is

    .. math:: x_{k+1} = x_k - \min\left(\eta_{max}, \alpha \frac{f(x_k) - L}{\|g_k\|^2}\right) g_k,

    a Newton-Raphson step for the root of ``f - L`` along the gradient (the Polyak step).
    ``nit`` counts steps and ``x0`` is iterate 0; the paper counts iterates from 1, so its
    "steps to reach ``f <= t``" is ``nit + 1`` of a run with ``tol=t``.

    References
    ----------
    D. Sprunger, "Reparametrizing gradient descent", 2020, Algorithm 1.

    Examples
    --------
    >>> import numpy as np, scipy.optimize as so
    >>> from nagd import nagd
    >>> res = so.minimize(so.rosen, np.array([-3.0, -4.0]), jac=so.rosen_der, method=nagd,
    ...                   options={"alpha": 1.6, "maxiter": 5000, "tol": 1e-6})
    >>> res.status, bool(res.fun <= 1e-6)
    (0, True)
    """
    unknown = [name for name in options if name not in _DEFAULTS]
    opts = dict(_DEFAULTS)
    opts.update((k, v) for k, v in options.items() if k in _DEFAULTS)
    ignored = [name for name, value in (("hess", hess), ("hessp", hessp), ("bounds", bounds),
                                        ("constraints", constraints)) if _given(value)]
    return _solve(fun, x0, args, jac, callback, opts, unknown, ignored, stacklevel=4)


def _given(value):
    if value is None:
        return False
    if isinstance(value, (list, tuple, dict)) and len(value) == 0:
        return False
    return True


def minimize(fun, x0, args=(), jac=None, callback=None, **options) -> OptimizeResult:
    """Minimize a function by norm-adapted gradient descent without going through scipy.

    ``nagd.minimize(fun, x0, jac=g, alpha=0.7)`` returns what
    ``scipy.optimize.minimize(fun, x0, jac=g, method=nagd, options={"alpha": 0.7})`` returns.

    Parameters
    ----------
    fun : callable
        ``fun(x, *args) -> float``; with ``jac=True``, ``fun(x, *args) -> (float, ndarray)``.
    x0 : array_like of shape (n,)
        Starting point (see `nagd`).
    args : tuple, optional
        Extra arguments of ``fun`` and ``jac``.
    jac : callable, True, None or '2-point', optional
        The gradient; True if ``fun`` returns it too; None or '2-point' for forward differences.
    callback : callable, optional
        As in `nagd`.
    **options
        The options of `nagd` (``alpha``, ``lower_bound``, ``max_lr``, ``maxiter``, ``tol``,
        ``gtol``, ``disp``, ``return_all``, ``compiled``, ``stop``), as keywords.

    Returns
    -------
    OptimizeResult
        As `nagd`.

    Raises
    ------
    ValueError, TypeError
        As `nagd`; also for a ``jac`` that is none of the above.

    Examples
    --------
    >>> import numpy as np
    >>> import nagd
    >>> res = nagd.minimize(lambda x: 0.5 * x @ x, np.array([3.0, 4.0]), jac=lambda x: x, alpha=2.0)
    >>> res.status, res.nit, res.x          # lr = 2*f/|g|^2 = 1 lands on the minimum
    (0, 1, array([0., 0.]))
    """
    unknown = [name for name in options if name not in _DEFAULTS]
    opts = dict(_DEFAULTS)
    opts.update((k, v) for k, v in options.items() if k in _DEFAULTS)
    return _solve(fun, x0, args, jac, callback, opts, unknown, [], stacklevel=3)
