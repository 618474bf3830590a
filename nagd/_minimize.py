"""Norm-adapted gradient descent as a ``scipy.optimize.minimize`` method.

``nagd`` is a custom method for ``scipy.optimize.minimize(..., method=nagd)``;
``minimize`` runs the same algorithm without going through scipy. Both end in
one driver:

* the Python loop, which calls any ``fun``/``jac`` (one compiled helper call per
  iteration does the stopping tests, the lower-bound estimate of
  `nagd.optim.lower_bound.path_level` and the step), or
* the compiled whole loop `_compiled_loop`, used when ``fun`` and ``jac`` are
  Numba-jitted functions and no ``callback``, ``stop`` rule or ``return_all``
  asks for Python work between iterations. Both give bit-identical iterates:
  they share `_advance`, which holds every test and the step.

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
from scipy.optimize import Bounds, OptimizeResult, OptimizeWarning

from . import _validation as _v
from . import kernels
from .optim.lower_bound import PATH_STATE, path_level

__all__ = ["nagd", "minimize"]

_STATUS_MESSAGES = {
    0: "Optimization terminated successfully.",
    1: "Maximum number of iterations has been exceeded.",
    2: "A non-finite value of the objective or of its gradient was met; the last finite iterate is returned.",
    3: "The objective fell below lower_bound: the lower bound is wrong (it must not exceed the minimum of f).",
    4: "The stopping rule `stop` fired: the step size has stopped falling, which does not show that x is a "
       "minimum.",
    99: "`callback` raised `StopIteration`.",
}

# Codes returned by _advance besides the statuses above.
_STEPPED = -1      # a step was written into `out`; continue
_BAD_SHAPE = -2    # jac returned an array of the wrong length (compiled loop only)
_BAD_NEXT = -3     # the next iterate would not be finite: status 2 at the current one

# The loop state both loops keep in one float64 array, updated only by _advance.
_BEST = 0          # lowest f seen
_MARK = 1          # lowest f seen up to the last iterate whose index is a power of two (or 0)
_MARK_PREV = 2     # the same at the power of two before it; the wrong-bound diagnosis compares them
_LEVEL = 3         # the lower bound of the tests and the step (the estimate with lower_bound="auto")
_LR = 4            # the step size of the last step
_STEPLEN = 5       # the length of the last step, lr * ||g||
_AUTO = 6          # 1.0 with lower_bound="auto"
_DELTA = 7         # auto: the state of nagd.optim.lower_bound.path_level, PATH_STATE entries
_STATE_SIZE = _DELTA + PATH_STATE
_MAXITER_COMPILED = 2 ** 62   # the compiled loop counts in int64: no run gets near it


def _new_state(lower_bound, auto):
    """The loop state for a run with this lower bound (ignored with auto)."""
    state = np.zeros(_STATE_SIZE)
    state[_BEST] = state[_MARK] = state[_MARK_PREV] = math.inf
    state[_LEVEL] = lower_bound
    state[_AUTO] = 1.0 if auto else 0.0
    return state


@kernels._jit(inline=True)
def _advance(x, g, out, f, k, state, alpha, max_lr, tol, gtol2, lb, ub, may_step, boxed, auto):
    """Test iterate x_k (finite f, gradient g) and, unless it stops there, write x_{k+1} into out.

    Returns 2 (NaN/inf in g or ||g||^2 overflows; out untouched), 3 (f < L - tol), 0 (f - L <= tol
    or ||g||^2 <= gtol2; with lower_bound="auto" only the latter), 1 (not may_step), -3 (the next
    iterate has a NaN/inf entry) or -1 (out = P(x - lr*g), lr = min(max_lr, alpha*(f - L)/||g||^2)).

    boxed says whether lb, ub (length n; length 0 for none) hold a box, auto whether the run has
    lower_bound="auto" (state[_AUTO]); the compiled loop passes both as compile-time constants,
    so each variant carries only its own branches. With a box P clips into it and g is the
    projected gradient: the entries that push against an active bound are left out of ||g||^2
    (those coordinates stay on their bound). Changes out and state only. ||g||^2 and the step
    size are kernels.sq_norm and kernels.polyak_lr, which Numba inlines here (as it inlines this
    function into the compiled loop: a call to a separately compiled function costs about as
    much as a whole 2-D iteration).
    """
    n = g.shape[0]
    if f < state[_BEST]:
        state[_BEST] = f
    if k & (k - 1) == 0:                       # k = 0, 1, 2, 4, ...
        state[_MARK_PREV] = state[_MARK]
        state[_MARK] = state[_BEST]
    if boxed:
        gg = 0.0
        bad = 0.0
        for i in range(n):
            gi = np.float64(g[i])
            bad += gi * 0.0                    # NaN as soon as one entry is inf or NaN
            if not ((gi > 0.0 and x[i] <= lb[i]) or (gi < 0.0 and x[i] >= ub[i])):
                gg += gi * gi
        if bad != 0.0:
            return 2
    else:
        gg = kernels.sq_norm(g)
    if not (gg < math.inf):
        return 2
    if auto:
        level = path_level(state[_DELTA:_DELTA + PATH_STATE], k, f, state[_BEST], state[_STEPLEN])
        state[_LEVEL] = level
    else:
        level = state[_LEVEL]
    gap = f - level
    if not auto:
        if gap < -tol:
            return 3
        if gap <= tol:
            return 0
    if gg <= gtol2:
        return 0
    if not may_step:
        return 1
    lr = kernels.polyak_lr(gg, gap, alpha, max_lr, 0.0)
    if lr == 0.0:                              # f - L > 0 and g != 0 here: the step overflowed
        return _BAD_NEXT
    state[_LR] = lr
    if auto:
        state[_STEPLEN] = lr * math.sqrt(gg)
    check = 0.0
    if boxed:
        for i in range(n):
            v = x[i] - lr * np.float64(g[i])
            if v < lb[i]:
                v = lb[i]
            elif v > ub[i]:
                v = ub[i]
            out[i] = v
            check += v * 0.0
    else:
        for i in range(n):
            out[i] = x[i] - lr * np.float64(g[i])
            check += out[i] * 0.0              # NaN as soon as one stored entry is inf or NaN
    if check != 0.0:
        return _BAD_NEXT
    return _STEPPED


def _compiled_loop(fun, jac, x0, args, lb, ub, state, alpha, max_lr, tol, gtol, maxiter, ftrace):
    """Run the whole iteration in compiled code, in the variant built for this box and bound.

    Parameters
    ----------
    fun, jac : Numba-jitted functions
        ``fun(x, *args) -> float`` and ``jac(x, *args) -> ndarray of shape (n,)``.
    x0 : ndarray of shape (n,), float64
        Starting point, inside the box; not modified.
    args : tuple
        Extra arguments of fun and jac (``()`` for none).
    lb, ub : ndarray of shape (n,) or (0,), float64
        The box (``lb <= ub``, infinite entries for none), or two empty arrays for no bounds.
    state : ndarray of shape (_STATE_SIZE,), float64
        From `_new_state`; updated in place (the best f, the lower bound, the last step).
    alpha, max_lr, tol, gtol : float
        As the options of `nagd` (``max_lr=inf`` for no cap).
    maxiter : int
        Largest number of steps (below 2**63).
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
        finite (x0 itself if f(x0) was not finite), so never NaN. With lower_bound="auto"
        and a status other than 0, the iterate with the lowest f (the level method does not
        decrease f at every step).
    f : float
        f(x) (the non-finite value if f(x0) was not finite).
    g : ndarray of shape (n,)
        Gradient at x (NaN-filled if it was never computed).
    """
    variant = (lb.shape[0] != 0, bool(state[_AUTO] != 0.0))
    loop = _COMPILED_LOOPS.get(variant)
    if loop is None:                            # building a dispatcher is cheap; it compiles on first call
        loop = _COMPILED_LOOPS.setdefault(variant, _make_compiled_loop(*variant))
    return loop(fun, jac, x0, args, lb, ub, state, alpha, max_lr, tol, gtol, maxiter, ftrace)


_COMPILED_LOOPS = {}   # (boxed, auto) -> the compiled loop of that variant


def _make_compiled_loop(BOXED, AUTO):
    """The compiled loop with boxed and auto fixed: Numba treats the two as constants and drops the
    other variants' branches from the loop (docs/benchmarks.md, Core (b), has the time per step)."""

    @njit
    def loop(fun, jac, x0, args, lb, ub, state, alpha, max_lr, tol, gtol, maxiter, ftrace):
        n = x0.shape[0]
        x = x0.copy()
        nxt = np.empty_like(x0)                    # after a step: the previous iterate
        prev_f = np.nan
        prev_g = np.full(n, np.nan)
        auto = AUTO
        best_x = np.empty(n if auto else 0)        # auto: the iterate with the lowest f and its gradient
        best_g = np.empty(n if auto else 0)
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
            improved = f < state[_BEST]
            code = _advance(x, g, nxt, f, k, state, alpha, max_lr, tol, gtol2, lb, ub, k < maxiter, BOXED, AUTO)
            if auto and improved and code != 2:
                for i in range(n):
                    best_x[i] = x[i]
                    best_g[i] = g[i]
            if code != _STEPPED:
                if auto and code != 0 and state[_BEST] < f:
                    return code if code != _BAD_NEXT else 2, k, nfev, njev, best_x, state[_BEST], best_g
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

    return loop


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


def _lower_bound(value):
    """Return (L, auto): a finite number, or "auto" (L = nan, auto = True)."""
    if isinstance(value, str):
        if value != "auto":
            raise ValueError(f"lower_bound must be a finite number or 'auto', got {value!r}")
        return math.nan, True
    return _v.finite("lower_bound", value), False


def _check_options(options):
    alpha = _v.alpha(options["alpha"])
    lower_bound, auto = _lower_bound(options["lower_bound"])
    max_lr = options["max_lr"]
    if max_lr is _DEFAULT_CAP:                  # measured: the level method does better uncapped
        max_lr = None if auto else 1.0
    max_lr = _v.max_lr(max_lr)
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
    gtol = options["gtol"]
    if gtol is _DEFAULT_GTOL:                   # the level method rarely resolves 1e-8 (measured)
        gtol = 1e-6 if auto else 1e-8
    gtol = _v.nonnegative("gtol", gtol)
    compiled = options["compiled"]
    if compiled not in (None, True, False):
        raise ValueError(f"compiled must be None, True or False, got {compiled!r}")
    stop = options["stop"]
    if stop is not None and not callable(getattr(stop, "update", None)):
        raise TypeError(f"stop must have an update(lr) method, got {stop!r}")
    return alpha, lower_bound, auto, max_lr, maxiter, tol, gtol, compiled, stop


def _x0(x0):
    """Copy x0 to a new float64 1-D array (0-d becomes shape (1,)); reject other shapes and non-finite values."""
    if np.iscomplexobj(x0):
        raise TypeError(f"x0 must be real: nagd minimizes over real numbers, got {x0!r}")
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


def _bounds(bounds, n):
    """Return (lb, ub) as float64 arrays of shape (n,) (-inf/inf for none), or two empty arrays for no bounds.

    bounds is None, a `scipy.optimize.Bounds`, or a sequence of n ``(min, max)`` pairs with
    None (or an infinity) for no bound, as `scipy.optimize.minimize` accepts them.
    """
    empty = np.empty(0)
    if bounds is None:
        return empty, empty
    if isinstance(bounds, Bounds):
        lo, hi = bounds.lb, bounds.ub
        try:
            lo = np.broadcast_to(np.asarray(lo, dtype=np.float64), (n,)).copy()
            hi = np.broadcast_to(np.asarray(hi, dtype=np.float64), (n,)).copy()
        except ValueError:
            raise ValueError(f"bounds must have one (min, max) pair per entry of x0 ({n}), got "
                             f"lb of shape {np.shape(bounds.lb)} and ub of shape {np.shape(bounds.ub)}") from None
    else:
        try:
            pairs = list(bounds)
        except TypeError:
            raise TypeError(f"bounds must be a scipy.optimize.Bounds or a sequence of (min, max) pairs, "
                            f"got {bounds!r}") from None
        if len(pairs) != n:
            raise ValueError(f"bounds must have one (min, max) pair per entry of x0 ({n}), got {len(pairs)}")
        lo, hi = np.empty(n), np.empty(n)
        for i, pair in enumerate(pairs):
            try:
                a, b = pair
                lo[i] = -math.inf if a is None else float(a)
                hi[i] = math.inf if b is None else float(b)
            except (TypeError, ValueError):
                raise ValueError(f"bounds[{i}] must be a (min, max) pair of numbers or None, got {pair!r}") from None
    if np.any(np.isnan(lo)) or np.any(np.isnan(hi)):
        raise ValueError("bounds must not contain NaN")
    if np.any(lo > hi):
        i = int(np.argmax(lo > hi))
        raise ValueError(f"bounds[{i}]: the lower bound {float(lo[i])!r} exceeds the upper bound {float(hi[i])!r}")
    if np.all(lo == -math.inf) and np.all(hi == math.inf):
        return empty, empty
    if np.any(lo == math.inf) or np.any(hi == -math.inf):
        raise ValueError("bounds: a lower bound of +inf or an upper bound of -inf leaves no feasible point")
    return lo, hi


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


_FD_METHODS = ("2-point", "3-point")


class _FiniteDifferences:
    """The gradient by forward ('2-point') or central ('3-point') differences, inside the box.

    Steps are relative, as in `scipy.optimize.approx_derivative`: ``h = r * max(1, |x_i|)`` with
    ``r = sqrt(eps)`` for forward and ``eps**(1/3)`` for central differences, rounded so that
    ``x_i + h`` is exact. Near a bound the forward difference turns backward and the central one
    becomes the one-sided three-point formula. Every call of fun is counted in ``calls``.
    """

    def __init__(self, fun, method, lb, ub):
        self.fun, self.central = fun, method == "3-point"
        self.rel = np.finfo(np.float64).eps ** (1.0 / 3.0 if self.central else 0.5)
        self.lb, self.ub = lb, ub
        self.calls = 0

    def _f(self, x, i, h):
        xp = x.copy()
        xp[i] += h
        self.calls += 1
        v = self.fun(xp)
        return v if isinstance(v, float) else _scalar(v)

    def __call__(self, x, f0):
        n = x.shape[0]
        g = np.empty(n)
        boxed = self.lb.shape[0] != 0
        for i in range(n):
            h = self.rel * max(1.0, abs(x[i]))
            h = (x[i] + h) - x[i]
            lo, hi = (self.lb[i], self.ub[i]) if boxed else (-math.inf, math.inf)
            if not self.central:
                if x[i] + h > hi:
                    h = -h
                g[i] = (self._f(x, i, h) - f0) / h
            elif lo <= x[i] - h and x[i] + h <= hi:
                g[i] = (self._f(x, i, h) - self._f(x, i, -h)) / (2.0 * h)
            else:
                if x[i] + 2.0 * h > hi:
                    h = -h
                g[i] = (-3.0 * f0 + 4.0 * self._f(x, i, h) - self._f(x, i, 2.0 * h)) / (2.0 * h)
        return g


def _python_loop(fun, jac, fd, x, args, lb, ub, state, alpha, max_lr, maxiter, tol, gtol, stop,
                 callback, kind, allvecs):
    """The same iteration as `_compiled_loop` for any Python callables; see it for the results.

    fd is a `_FiniteDifferences` (then jac is None) or None; stop a rule with update(lr), or None.
    """
    n = x.shape[0]
    nxt = np.empty_like(x)                      # after a step: the previous iterate
    prev_g = np.empty_like(x)                   # our own copy: jac may reuse one buffer
    gtol2 = gtol * gtol
    nfev = njev = k = 0
    fired = False
    if args:                                    # fun(x, *args) costs a tuple per call: bind once
        fun1, jac1 = (lambda xx: fun(xx, *args)), (None if jac is None else (lambda xx: jac(xx, *args)))
    else:
        fun1, jac1 = fun, jac
    if fd is not None:
        fd.fun = fun1
    advance, isfinite, ndarray, f64 = _advance, math.isfinite, np.ndarray, np.dtype(np.float64)
    prev_f = None                               # f of the previous iterate
    auto = state[_AUTO] != 0.0
    boxed = lb.shape[0] != 0
    best_x, best_g = np.empty_like(x), np.empty_like(x)   # auto: the iterate with the lowest f, its gradient
    while True:
        f = fun1(x)
        nfev += 1
        if not isinstance(f, float):
            f = _scalar(f)
        if not isfinite(f):
            if prev_f is None:
                return 2, 0, nfev, njev, x, f, np.full(n, np.nan)
            return 2, k - 1, nfev, njev, nxt, prev_f, prev_g
        if fd is not None:
            fd.calls = 0
            g = fd(x, f)
            nfev += fd.calls
        else:
            g = jac1(x)
            njev += 1
            if type(g) is not ndarray or g.dtype is not f64 or g.ndim != 1 or len(g) != n:   # any layout is fine
                g = _gradient(g, n)
        improved = f < state[_BEST]
        code = advance(x, g, nxt, f, k, state, alpha, max_lr, tol, gtol2, lb, ub, k < maxiter and not fired,
                       boxed, auto)
        if auto and improved and code != 2:
            best_x[:] = x
            best_g[:] = g
        if auto and code not in (0, _STEPPED) and state[_BEST] < f:
            if code == 1 and fired:
                code = 4
            return (2 if code == _BAD_NEXT else code), k, nfev, njev, best_x, state[_BEST], best_g
        if code == 2:
            if prev_f is None:
                return 2, 0, nfev, njev, x, f, g
            return 2, k - 1, nfev, njev, nxt, prev_f, prev_g
        if kind and k > 0:
            try:
                if kind == 2:
                    callback(intermediate_result=OptimizeResult(x=x.copy(), fun=f, jac=g.copy(), nit=k))
                else:
                    callback(x.copy())
            except StopIteration:
                if auto and state[_BEST] < f:
                    return 99, k, nfev, njev, best_x, state[_BEST], best_g
                return 99, k, nfev, njev, x, f, g
        if code != _STEPPED:
            if code == 1 and fired:
                code = 4
            return (2 if code == _BAD_NEXT else code), k, nfev, njev, x, f, g
        if stop is not None and stop.update(state[_LR]):
            fired = True                        # x_{k+1} is still evaluated and tested
        prev_f = f
        prev_g[:] = g
        x, nxt = nxt, x
        k += 1
        if allvecs is not None:
            allvecs.append(x.copy())


def _diagnosis(status, state, nit, tol, auto):
    """A sentence for the message when f - L stopped falling at a status 1 or 4, else ''."""
    best, then = state[_BEST], state[_MARK_PREV]
    if auto:
        if status in (1, 4):
            return (f" With lower_bound='auto' only the gradient test (gtol) can end a run with success; "
                    f"x is the iterate with the lowest f; last estimate of the minimum: {float(state[_LEVEL])!r}.")
        return ""
    if status not in (1, 4) or nit < 8:
        return ""
    level = state[_LEVEL]
    now, before = best - level, then - level
    if now > tol and now > 0.9 * before:
        return (f" f - lower_bound stopped falling (lowest f - lower_bound: {now:.3g}; {before:.3g} half-way) "
                f"while the gradient is not small: lower_bound = {float(level)!r} is probably below the minimum "
                f"value of f (or the run circles a local minimum). Pass a better lower_bound, or "
                f"lower_bound='auto' to estimate it.")
    return ""


def _solve(fun, x0, args, jac, callback, bounds, options, unknown, ignored, stacklevel):
    if unknown:
        warnings.warn(f"Unknown solver options: {', '.join(sorted(unknown))}", OptimizeWarning,
                      stacklevel=stacklevel)
    if ignored:
        warnings.warn(f"nagd ignores {', '.join(ignored)}: it is a first-order method for box constraints "
                      f"at most", OptimizeWarning, stacklevel=stacklevel)
    if not callable(fun):
        raise TypeError(f"fun must be callable, got {fun!r}")
    alpha, lower_bound, auto, max_lr, maxiter, tol, gtol, compiled, stop = _check_options(options)
    disp, return_all = bool(options["disp"]), bool(options["return_all"])
    x = _x0(x0)
    lb, ub = _bounds(bounds, x.shape[0])
    if lb.shape[0]:
        np.clip(x, lb, ub, out=x)               # as L-BFGS-B does
    if not isinstance(args, tuple):
        args = (args,)
    fd = None
    if jac is True:
        memo = _Memoized(fun)
        fun, jac = memo.value, memo.jac
    elif jac is None or jac is False:
        fd = _FiniteDifferences(fun, "2-point", lb, ub)
    elif isinstance(jac, str):
        if jac not in _FD_METHODS:
            raise ValueError(f"jac must be a callable, True, None, '2-point' or '3-point', got {jac!r}")
        fd = _FiniteDifferences(fun, jac, lb, ub)
    elif not callable(jac):
        raise ValueError(f"jac must be a callable, True, None, '2-point' or '3-point', got {jac!r}")
    if fd is not None:
        jac = None
    kind = _callback_kind(callback)
    state = _new_state(lower_bound, auto)

    blockers = [why for why, present in (("fun and jac are not both Numba-jitted functions",
                                          not (_is_jitted(fun) and _is_jitted(jac))),
                                         ("a callback is given", kind != 0),
                                         ("a stop rule is given", stop is not None),
                                         ("return_all is True", return_all)) if present]
    if compiled and blockers:
        raise ValueError(f"compiled=True is impossible here: {'; '.join(blockers)}")
    result = None
    if not blockers and compiled is not False:
        from numba.core.errors import TypingError
        try:
            result = _compiled_loop(fun, jac, x, args, lb, ub, state, alpha, max_lr, tol, gtol,
                                    min(maxiter, _MAXITER_COMPILED), np.empty(0))
        except TypingError:
            if compiled:
                raise
            result = None                       # e.g. fun returns an array: the Python loop explains
            state = _new_state(lower_bound, auto)
        if result is not None:
            status, nit, nfev, njev, xr, f, g = result
            if status == _BAD_SHAPE:
                raise ValueError(f"jac must return an array of shape ({x.shape[0]},) like x0, "
                                 f"got length {len(g)}")
            allvecs = None
    if result is None:
        allvecs = [x.copy()] if return_all else None
        status, nit, nfev, njev, xr, f, g = _python_loop(
            fun, jac, fd, x, args, lb, ub, state, alpha, max_lr, maxiter, tol, gtol, stop, callback, kind, allvecs)
        if allvecs is not None:
            del allvecs[nit + 1:]               # status 2 steps back to the last finite iterate
    message = _STATUS_MESSAGES[status]
    if status == 3:
        message += f" f = {f!r} < lower_bound = {lower_bound!r}."
    message += _diagnosis(status, state, nit, tol, auto)
    if auto and status != 0:
        message = message.replace("the last finite iterate is returned",
                                  "the finite iterate with the lowest f is returned")
    res = OptimizeResult(x=np.array(xr, dtype=np.float64), fun=float(f), jac=np.array(g, dtype=np.float64),
                         nit=int(nit), nfev=int(nfev), njev=int(njev), status=int(status),
                         success=status == 0, message=message)
    if auto:
        res.lower_bound = float(state[_LEVEL])
    if return_all:
        res.allvecs = allvecs
    if disp:
        print(message)
        print(f"         Current function value: {res.fun:f}")
        print(f"         Iterations: {res.nit:d}")
        print(f"         Function evaluations: {res.nfev:d}")
        print(f"         Gradient evaluations: {res.njev:d}")
    return res


_DEFAULT_CAP = object()       # max_lr not given: 1.0, or None with lower_bound="auto"
_DEFAULT_GTOL = object()      # gtol not given: 1e-8, or 1e-6 with lower_bound="auto"
_DEFAULTS = {"alpha": 1.0, "lower_bound": 0.0, "max_lr": _DEFAULT_CAP, "maxiter": 10_000, "tol": 1e-8,
             "gtol": _DEFAULT_GTOL, "disp": False, "return_all": False, "compiled": None, "stop": None}


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
        Starting point, finite and real (complex raises TypeError). It is copied to float64
        and never modified; a scalar counts as shape (1,); more than one dimension raises
        ValueError (as scipy does). With ``bounds`` it is clipped into the box first.
    args : tuple, optional
        Extra arguments of ``fun`` and ``jac``.
    jac : callable or None, optional
        ``jac(x, *args) -> ndarray of shape (n,)``, the gradient, or any subgradient of a
        convex nonsmooth ``fun``. ``None`` estimates it by forward differences (relative step
        ``sqrt(eps) * max(1, |x_i|)``, inside the box), n more ``fun`` calls per gradient,
        counted in ``nfev``. scipy passes ``None`` for every string (``'2-point'``,
        ``'3-point'``, ``'cs'``), so through `scipy.optimize.minimize` only forward
        differences are possible; `nagd.minimize` takes ``jac='3-point'`` for central
        differences. ``scipy.optimize.minimize(..., jac=True)`` hands us an already split
        ``fun``/``jac`` pair.
    hess, hessp : optional
        Not used: given (not None), they raise an ``OptimizeWarning``.
    bounds : scipy.optimize.Bounds or sequence of (min, max) pairs, optional
        A box: every iterate is projected into it (the projected Polyak step) and the gradient
        test uses the projected gradient. None or an infinity for no bound on a side.
        ``min > max`` or a length other than n raises ValueError.
    constraints : optional
        Not used: given (not None and not empty), it raises an ``OptimizeWarning``.
    callback : callable, optional
        Called after each step: ``callback(intermediate_result)`` with an ``OptimizeResult``
        holding ``x``, ``fun``, ``jac`` and ``nit`` if that is its only parameter's name, else
        ``callback(xk)`` with a copy of the iterate. Raising ``StopIteration`` ends the run
        with status 99.
    **options
        alpha : float, default 1.0
            Fraction of ``f - L`` each step aims to remove, in (0, 2]; outside raises
            ValueError (the paper's range; above 2 the step overshoots the linear model's root).
        lower_bound : float or "auto", default 0.0
            ``L``, a known lower bound of ``f``, ideally its minimum value. Too high stalls at
            ``f = L`` (or ends with status 3); too low makes steps too long, and a run that
            then ends by ``maxiter`` says so in its message. ``"auto"`` estimates the minimum
            value online (the path-based level rule; see docs/algorithm.md); then only the
            gradient test ends a run with success, and the result has ``lower_bound``, the
            last estimate.
        max_lr : float or None, default 1.0 (None with ``lower_bound="auto"``)
            Cap on the step size; None for none.
        maxiter : int, default 10000
            Largest number of steps.
        tol : float, default 1e-8
            Stop (status 0) once ``f - L <= tol``. This is a test on ``f``: near a smooth
            minimum ``x`` is only accurate to about ``sqrt(tol)``; use ``gtol`` (with ``tol=0``)
            when ``x`` itself matters. Unused with ``lower_bound="auto"``.
        gtol : float, default 1e-8 (1e-6 with ``lower_bound="auto"``)
            Stop (status 0) once ``||g|| <= gtol`` (the projected gradient with bounds). On a
            nonsmooth problem a subgradient rarely gets small: only ``tol`` ends such a run.
        disp : bool, default False
            Print a summary at the end.
        return_all : bool, default False
            Add ``allvecs``, the list of iterates ``x_0 ... x_nit``.
        compiled : bool or None, default None
            Run the whole loop in compiled code. None: whenever ``fun`` and ``jac`` are
            Numba-jitted and there is no callback, stop rule or return_all; False: never; True:
            always (ValueError naming what prevents it). Both loops give bit-identical iterates.
        stop : object or None, default None
            A stopping rule such as `nagd.diagnostics.OscillationStop`: its ``update(lr) -> bool``
            receives the size of every step; once it returns True the next iterate is
            evaluated and tested, and the run ends there with status 4 (unless it converged).

        Other names raise an ``OptimizeWarning`` ("Unknown solver options") and are ignored.

    Returns
    -------
    OptimizeResult
        ``x`` (ndarray of shape (n,), float64), ``fun``, ``jac`` (the gradient at ``x``),
        ``nit`` (steps taken), ``nfev``, ``njev`` (calls of ``fun``/``jac``; finite differences
        count in ``nfev``), ``status``, ``success`` (status 0 only) and ``message``; ``allvecs``
        with ``return_all``; ``lower_bound`` with ``lower_bound="auto"``. Status: 0 converged
        (``f - L <= tol`` or ``||g|| <= gtol``); 1 ``maxiter`` reached; 2 a non-finite ``f``,
        gradient or next iterate (the last iterate at which all were finite is returned, so
        ``x`` is never NaN); 3 ``f < L - tol``, the lower bound is wrong (``x`` is the point
        that shows it); 4 the ``stop`` rule fired, which certifies nothing; 99 ``callback``
        raised ``StopIteration``. After status 1 or 4 the message says when ``f - L`` had
        stopped falling, the sign of a lower bound below the minimum.

    Raises
    ------
    ValueError
        Bad options, ``x0`` or ``bounds`` (see above), ``fun`` returning more than one number,
        ``jac`` returning an array of the wrong shape.
    TypeError
        Non-numeric or complex ``x0``, options or return values.

    Notes
    -----
    Each step is

    .. math:: x_{k+1} = P\left(x_k - \min\left(\eta_{max}, \alpha \frac{f(x_k) - L}{\|g_k\|^2}\right) g_k\right),

    a Newton-Raphson step for the root of ``f - L`` along the gradient (the Polyak step);
    ``P`` projects into the box (the identity without bounds). ``nit`` counts steps and
    ``x0`` is iterate 0; the paper counts iterates from 1, so its "steps to reach
    ``f <= t``" is ``nit + 1`` of a run with ``tol=t``.

    References
    ----------
    D. Sprunger, "Reparametrizing gradient descent", 2020, Algorithm 1.
    B. T. Polyak, "Minimization of unsmooth functionals", USSR Comput. Math. Math. Phys. 9, 1969.
    J.-L. Goffin, K. C. Kiwiel, "Convergence of a simple subgradient level method", Math.
    Program. 85, 1999.

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
    ignored = [name for name, value in (("hess", hess), ("hessp", hessp), ("constraints", constraints))
               if _given(value)]
    return _solve(fun, x0, args, jac, callback, bounds, opts, unknown, ignored, stacklevel=4)


def _given(value):
    if value is None:
        return False
    if isinstance(value, (list, tuple, dict)) and len(value) == 0:
        return False
    return True


def minimize(fun, x0, args=(), jac=None, callback=None, bounds=None, options=None, **kwargs) -> OptimizeResult:
    """Minimize a function by norm-adapted gradient descent without going through scipy.

    ``nagd.minimize(fun, x0, jac=g, alpha=0.7)`` and ``nagd.minimize(fun, x0, jac=g,
    options={"alpha": 0.7})`` return what ``scipy.optimize.minimize(fun, x0, jac=g,
    method=nagd, options={"alpha": 0.7})`` returns.

    Parameters
    ----------
    fun : callable
        ``fun(x, *args) -> float``; with ``jac=True``, ``fun(x, *args) -> (float, ndarray)``.
    x0 : array_like of shape (n,)
        Starting point (see `nagd`).
    args : tuple, optional
        Extra arguments of ``fun`` and ``jac``.
    jac : callable, True, None, '2-point' or '3-point', optional
        The gradient (or a subgradient); True if ``fun`` returns it too; None or '2-point'
        for forward differences, '3-point' for central differences (2n calls of ``fun``
        per gradient, counted in ``nfev``).
    callback : callable, optional
        As in `nagd`.
    bounds : scipy.optimize.Bounds or sequence of (min, max) pairs, optional
        As in `nagd`.
    options : dict, optional
        The options of `nagd` (``alpha``, ``lower_bound``, ``max_lr``, ``maxiter``, ``tol``,
        ``gtol``, ``disp``, ``return_all``, ``compiled``, ``stop``), as scipy takes them.
    **kwargs
        The same options as keywords. An option given both ways raises TypeError.

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
    if options is not None:
        if not isinstance(options, dict):
            raise TypeError(f"options must be a dict, got {options!r}")
        both = sorted(set(options) & set(kwargs))
        if both:
            raise TypeError(f"option {both[0]!r} given both in options and as a keyword")
        kwargs = {**options, **kwargs}
    unknown = [name for name in kwargs if name not in _DEFAULTS]
    opts = dict(_DEFAULTS)
    opts.update((k, v) for k, v in kwargs.items() if k in _DEFAULTS)
    return _solve(fun, x0, args, jac, callback, bounds, opts, unknown, [], stacklevel=3)
