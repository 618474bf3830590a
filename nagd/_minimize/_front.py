"""The front ends: `nagd` (a ``scipy.optimize.minimize`` method) and `minimize`, one driver `_solve`."""
import math
import warnings

import numpy as np
from scipy.optimize import OptimizeResult, OptimizeWarning

from ._bundle import _F_LOW as _B_F_LOW, _RAISED as _B_RAISED
from ._bundle import _bundle_compiled_loop, _bundle_python_loop, new_bundle
from ._inputs import (OPTION_NAMES, _FD_METHODS, _FiniteDifferences, _Memoized, _bounds, _callback_kind, _is_jitted,
                      _x0, check_options, with_size)
from ._loops import (_BAD_SHAPE, _BEST, _LEVEL, _MARK_PREV, _MAXITER_COMPILED, _PAUSED, _STATUS_MESSAGES,
                     _compiled_loop, _new_state, _python_loop)

__all__ = ["nagd", "bundle", "minimize"]

HANDOFF = 2000
"""With ``compiled=None`` and jitted fun and jac, the steps the Python loop takes before a run still
going continues in the compiled loop (whose first call compiles for seconds in every new process)."""

_DIAGNOSIS_MIN_STEPS = 8   # the wrong-bound test compares f at the last two powers of two: 4 and 8 at least


def _diagnosis(status, state, nit, tol, auto):
    """A sentence for the message when f - L stopped falling at a status 1 or 4, else ''."""
    best, then = state[_BEST], state[_MARK_PREV]
    if auto:
        if status in (1, 4):
            return (f" With lower_bound='auto' only the gradient test (gtol) can end a run with success; "
                    f"x is the iterate with the lowest f; last estimate of the minimum: {float(state[_LEVEL])!r}.")
        return ""
    if status not in (1, 4) or nit < _DIAGNOSIS_MIN_STEPS:
        return ""
    level = state[_LEVEL]
    now, before = best - level, then - level
    if now > tol and now > 0.9 * before:
        return (f" f - lower_bound stopped falling (lowest f - lower_bound: {now:.3g}; {before:.3g} half-way) "
                f"while the gradient is not small: lower_bound = {float(level)!r} is probably below the minimum "
                f"value of f (or the run circles a local minimum). Pass a better lower_bound, or "
                f"lower_bound='auto' to estimate it.")
    return ""


def _solve(fun, x0, args, jac, callback, bounds, given, unknown, ignored, stacklevel, method):
    """The one driver of `nagd`, `bundle` and `minimize`: checks, the loop, the result.

    given: the options the caller gave (known names only); unknown, ignored: names to warn about.
    """
    if unknown:
        warnings.warn(f"Unknown solver options: {', '.join(sorted(unknown))}", OptimizeWarning,
                      stacklevel=stacklevel)
    if ignored:
        warnings.warn(f"{method} ignores {', '.join(ignored)}: it is a first-order method for box constraints "
                      f"at most", OptimizeWarning, stacklevel=stacklevel)
    if not callable(fun):
        raise TypeError(f"fun must be callable, got {fun!r}")
    opts = check_options(method, given)
    x = _x0(x0)
    n = x.shape[0]
    opts = with_size(opts, n)
    bundle = method == "bundle"
    lb, ub = _bounds(bounds, n)
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

    def fresh():
        if bundle:
            return new_bundle(n, opts.memory, opts.lower_bound, opts.auto)
        return _new_state(opts.lower_bound, opts.auto)

    state = fresh()
    blockers = [why for why, present in (("fun and jac are not both Numba-jitted functions",
                                          not (_is_jitted(fun) and _is_jitted(jac))),
                                         ("a callback is given", kind != 0),
                                         ("a stop rule is given", opts.stop is not None),
                                         ("return_all is True", opts.return_all)) if present]
    if opts.compiled and blockers:
        raise ValueError(f"compiled=True is impossible here: {'; '.join(blockers)}")
    result = None
    loop = "python"
    resume = None
    if not blockers and opts.compiled is None:
        # the Python loop first: a short run never pays the compiled loop's first-call cost (seconds,
        # in every new process); a run still going after HANDOFF steps goes on compiled, bit for bit
        if bundle:
            result = _bundle_python_loop(fun, jac, None, x.copy(), args, lb, ub, *state, opts, None, 0, None,
                                         handoff=HANDOFF)
        else:
            result = _python_loop(fun, jac, None, x.copy(), args, lb, ub, state, opts, None, 0, None,
                                  handoff=HANDOFF)
        if result[0] == _PAUSED:
            resume, x_at = result[1:4] + result[5:], result[4]
            result = None
    if not blockers and opts.compiled is not False and (opts.compiled or resume is not None):
        from numba.core.errors import TypingError
        maxiter = min(opts.maxiter, _MAXITER_COMPILED)
        start = x if resume is None else x_at
        try:
            if bundle:
                result = _bundle_compiled_loop(fun, jac, start, args, lb, ub, *state, opts.memory, opts.alpha,
                                               opts.max_lr, opts.tol, opts.gtol, maxiter, resume=resume)
            else:
                result = _compiled_loop(fun, jac, start, args, lb, ub, state, opts.alpha, opts.max_lr, opts.tol,
                                        opts.gtol, maxiter, np.empty(0), resume=resume)
            loop = "compiled" if resume is None else "python+compiled"
        except TypingError as exc:
            if opts.compiled:
                first = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), "")
                raise TypeError(f"compiled=True: fun and jac cannot run in the compiled loop (fun must return one "
                                f"real number and jac a 1-D array of length {n}); Numba says: {first}") from None
            result = None                       # e.g. fun returns an array: the Python loop runs it all
            state = fresh()
        if result is not None and result[0] == _BAD_SHAPE:
            raise ValueError(f"jac must return an array of shape ({n},) like x0, got length {len(result[6])}")
    allvecs = None
    if result is None:
        loop = "python"
        allvecs = [x.copy()] if opts.return_all else None
        if bundle:
            result = _bundle_python_loop(fun, jac, fd, x, args, lb, ub, *state, opts, callback, kind, allvecs)
        else:
            result = _python_loop(fun, jac, fd, x, args, lb, ub, state, opts, callback, kind, allvecs)
        if allvecs is not None:
            del allvecs[result[1] + 1:]         # status 2 steps back to the last finite iterate
    status, nit, nfev, njev, xr, f, g = result
    if bundle:
        res = _bundle_result(status, nit, nfev, njev, xr, f, g, state[0], opts)
    else:
        res = _nagd_result(status, nit, nfev, njev, xr, f, g, state, opts)
    res.loop = loop                             # which loop ran: python, compiled, or python+compiled
    if opts.return_all:
        res.allvecs = allvecs
    if opts.disp:
        print(res.message)
        print(f"         Current function value: {res.fun:f}")
        print(f"         Iterations: {res.nit:d}")
        print(f"         Function evaluations: {res.nfev:d}")
        print(f"         Gradient evaluations: {res.njev:d}")
    return res


def _nagd_result(status, nit, nfev, njev, x, f, g, state, opts):
    """The OptimizeResult of a nagd run: the best point, the bound (or the last estimate) and why it stopped."""
    message = _STATUS_MESSAGES[status]
    if status == 3:
        message += f" f = {f!r} < lower_bound = {opts.lower_bound!r}."
    message += _diagnosis(status, state, nit, opts.tol, opts.auto)
    if status == 0 and not opts.auto and f - opts.lower_bound > opts.tol:
        message += _above_bound(f - opts.lower_bound, opts.gtol)
    res = OptimizeResult(x=np.array(x, dtype=np.float64), fun=float(f), jac=np.array(g, dtype=np.float64),
                         nit=int(nit), nfev=int(nfev), njev=int(njev), status=int(status), success=status == 0,
                         message=message)
    if opts.auto:
        res.lower_bound = float(state[_LEVEL])  # an estimate: nothing is certified
        res.gap, res.certified = math.inf, False
    else:
        res.lower_bound, res.gap, res.certified = opts.lower_bound, float(f) - opts.lower_bound, False
    return res


def _above_bound(gap, gtol):
    return (f" Stopped by the gradient test (|g| <= gtol = {gtol:g}) while f - lower_bound = {gap:.3g} is above "
            f"tol: x is a stationary point (the minimum if f is convex, or over the box with bounds), and "
            f"lower_bound is below the minimum or f is not convex.")


def _bundle_result(status, nit, nfev, njev, x, f, g, S, opts):
    """The OptimizeResult of a bundle run: the best point, the bound in force, the gap and why it stopped."""
    lower_bound, auto, tol, gtol = opts.lower_bound, opts.auto, opts.tol, opts.gtol
    f_low = float(S[_B_F_LOW])
    gap = float(f) - f_low if math.isfinite(f_low) else math.inf
    certified = S[_B_RAISED] != 0.0
    message = _STATUS_MESSAGES[status]
    if status == 0:
        if gap <= tol:
            what = ("the certified gap f - lower_bound" if certified else "f - lower_bound")
            message += f" Stopped by the gap test: {what} = {gap:.3g} <= tol = {tol:g}."
        elif math.isfinite(gap):
            message += _above_bound(gap, gtol)
        else:
            message += f" Stopped by the gradient test (|g| <= gtol = {gtol:g}); no lower bound is certified."
    elif status == 3:
        message += f" f = {float(f)!r} < lower_bound = {lower_bound!r}."
    elif status in (1, 99):
        message += (f" Best f = {float(f)!r}; certified lower bound {f_low!r} (gap {gap:.3g})." if certified
                    else f" Best f = {float(f)!r}; no lower bound certified." if auto
                    else f" Best f = {float(f)!r}; f - lower_bound = {gap:.3g}.")
    return OptimizeResult(x=np.array(x, dtype=np.float64), fun=float(f), jac=np.array(g, dtype=np.float64),
                          nit=int(nit), nfev=int(nfev), njev=int(njev), status=int(status), success=status == 0,
                          message=message, lower_bound=f_low, gap=gap, certified=bool(certified))




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
        Not used: given (not None), they give an ``OptimizeWarning``.
    bounds : scipy.optimize.Bounds or sequence of (min, max) pairs, optional
        A box: every iterate is projected into it (the projected Polyak step) and the gradient
        test uses the projected gradient. None or an infinity for no bound on a side.
        ``min > max`` or a length other than n raises ValueError.
    constraints : optional
        Not used: given (not None and not empty), it gives an ``OptimizeWarning``.
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
            Run the whole loop in compiled code (its first call compiles for seconds in every
            new process). None: when ``fun`` and ``jac`` are Numba-jitted and there is no
            callback, stop rule or return_all, the Python loop takes the first 2000 steps and a
            run still going continues compiled; False: never; True: compiled from the start
            (ValueError naming what prevents it). Every way gives bit-identical iterates;
            ``res.loop`` says which ran (``"python"``, ``"compiled"`` or ``"python+compiled"``).
        stop : object or None, default None
            A stopping rule such as `nagd.diagnostics.OscillationStop`: its ``update(lr) -> bool``
            receives the size of every step; once it returns True the next iterate is
            evaluated and tested, and the run ends there with status 4 (unless it converged).

        Other names give an ``OptimizeWarning`` ("Unknown solver options") and are ignored.

    Returns
    -------
    OptimizeResult
        ``x`` (ndarray of shape (n,), float64: the iterate with the lowest ``f`` seen, never a
        worse last one), ``fun``, ``jac`` (the gradient at ``x``), ``nit`` (steps taken),
        ``nfev``, ``njev`` (calls of ``fun``/``jac``; finite differences count in ``nfev``),
        ``status``, ``success`` (status 0 only) and ``message`` (which test ended the run);
        ``lower_bound`` (``L``, or the last estimate with ``"auto"``), ``gap`` (``fun - L``;
        ``inf`` with ``"auto"``, where nothing is certified), ``certified`` (False: only
        `bundle` certifies bounds), ``loop`` (``"compiled"`` or ``"python"``); ``allvecs`` with
        ``return_all``. Status: 0 converged (``f - L <= tol`` or ``||g|| <= gtol``; the message
        says when the gradient test fired above the bound); 1 ``maxiter`` reached; 2 a
        non-finite ``f``, gradient or next iterate (``x`` is never NaN); 3 ``f < L - tol``, the
        lower bound is wrong (``x`` is the point that shows it); 4 the ``stop`` rule fired, which
        certifies nothing; 99 ``callback`` raised ``StopIteration``. After status 1 or 4 the
        message says when ``f - L`` had stopped falling, the sign of a lower bound below the
        minimum.

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
    return _front("nagd", fun, x0, args, jac, hess, hessp, constraints, callback, bounds, options)


def _front(method, fun, x0, args, jac, hess, hessp, constraints, callback, bounds, options):
    """The scipy custom-method entry of ``method``: split the options, warn about the unused arguments."""
    names = OPTION_NAMES[method]
    unknown = [name for name in options if name not in names]
    given = {k: v for k, v in options.items() if k in names}
    ignored = [name for name, value in (("hess", hess), ("hessp", hessp), ("constraints", constraints))
               if _given(value)]
    return _solve(fun, x0, args, jac, callback, bounds, given, unknown, ignored, stacklevel=5, method=method)


def _given(value):
    if value is None:
        return False
    if isinstance(value, (list, tuple, dict)) and len(value) == 0:
        return False
    return True


def bundle(fun, x0, args=(), jac=None, hess=None, hessp=None, bounds=None, constraints=None,
           callback=None, **options) -> OptimizeResult:
    r"""Minimize a convex, possibly nonsmooth function by Polyak steps with memory: a ``scipy.optimize.minimize`` method.

    Pass it as ``method=bundle``. Each step projects the current iterate onto the set where
    every cut kept (the linearisations ``f(x_j) + g_j.(y - x_j)`` of the last points, and one
    aggregate cut) is at most a *level*: the known lower bound, or with
    ``lower_bound="auto"`` a level between the best value seen and a certified lower bound.
    With ``memory=1`` the step is `nagd`'s, to the bit.

    Parameters
    ----------
    fun, x0, args, jac, hess, hessp, bounds, constraints, callback
        As in `nagd`. ``jac`` may be any subgradient of a convex ``fun``.
    **options
        The options of `nagd` (``alpha``, ``lower_bound``, ``max_lr``, ``maxiter``, ``tol``,
        ``gtol``, ``disp``, ``return_all``, ``compiled``), with these differences:

        memory : int or None, default None
            Cuts kept, the aggregate cut included (``None``: ``min(n + 2, 100)``). 1 gives
            NaGD's step.
        max_lr : float or None, default None
            Cap on the step size, the sum of the projection's multipliers (None: no cap; a
            projection onto a set that holds the minimisers cannot overshoot).
        lower_bound : float or "auto", default 0.0
            A number is a lower bound of ``f`` (ideally its minimum, the level of every
            step). If the cuts prove it below the minimum (the level set of the cut model is
            empty), the proved bound replaces it and the level moves between it and the best
            value. ``"auto"``: no bound is known; the first level follows the path rule of
            `nagd`'s ``"auto"`` until the cuts certify a finite bound.
        tol : float, default 1e-8
            Stop (status 0) when ``f_best - lower_bound <= tol``, with the bound given or
            certified.
        stop : not accepted
            A ``stop`` rule raises ValueError: the method certifies its own gap.

    Returns
    -------
    OptimizeResult
        As `nagd`, with ``x`` the best point seen (``fun`` and ``jac`` there), and
        ``lower_bound`` (the bound in force at the end: the one given, or one the cuts
        certified, or ``-inf``), ``gap`` (``fun - lower_bound``) and ``certified`` (True when
        the bound was proved by the cuts). The message says which test ended the run.

    Raises
    ------
    ValueError
        As `nagd`; also for ``memory`` not a positive integer, or a ``stop`` rule.
    TypeError
        As `nagd`.

    Notes
    -----
    The projection is the least-distance problem over the multipliers of the cuts, solved
    by Lawson and Hanson's NNLS in Gram form (compiled). A bound is *certified* when the
    projection is infeasible and its Farkas multipliers ``lam`` satisfy
    ``|sum lam_j g_j| <= 1e-6 sum lam_j |g_j|``: then ``f >= sum lam_j l_j`` everywhere
    the cut model is a minorant, that is everywhere for a convex ``f``, up to the rounding of
    that sum. For a nonconvex ``f`` nothing is certified.

    References
    ----------
    C. Lemarechal, A. Nemirovskii, Y. Nesterov, "New variants of bundle methods", Math.
    Program. 69, 1995.
    K. C. Kiwiel, "Proximal level bundle methods for convex nondifferentiable optimization,
    saddle-point problems and variational inequalities", Math. Program. 69, 1995.
    T. Devanathan, S. Boyd, "Polyak minorant method for convex optimization", J. Optim. Theory
    Appl., 2024.
    C. L. Lawson, R. J. Hanson, "Solving Least Squares Problems", 1974, chapter 23.

    Examples
    --------
    >>> import numpy as np, scipy.optimize as so
    >>> from nagd import bundle
    >>> f = lambda x: float(np.max(np.abs(x - 1.0)))             # minimum 0 at (1, 1, 1)
    >>> def g(x):
    ...     e = np.zeros_like(x); i = int(np.argmax(np.abs(x - 1.0))); e[i] = np.sign(x[i] - 1.0)
    ...     return e
    >>> res = so.minimize(f, np.zeros(3), jac=g, method=bundle, options={"lower_bound": 0.0})
    >>> res.status, bool(res.fun <= 1e-8)
    (0, True)
    """
    return _front("bundle", fun, x0, args, jac, hess, hessp, constraints, callback, bounds, options)


def minimize(fun, x0, args=(), jac=None, callback=None, bounds=None, options=None, method="nagd",
             **kwargs) -> OptimizeResult:
    """Minimize a function by norm-adapted gradient descent (or its bundle form) without going through scipy.

    ``nagd.minimize(fun, x0, jac=g, alpha=0.7)`` and ``nagd.minimize(fun, x0, jac=g,
    options={"alpha": 0.7})`` return what ``scipy.optimize.minimize(fun, x0, jac=g,
    method=nagd, options={"alpha": 0.7})`` returns; with ``method="bundle"``, what
    ``method=nagd.bundle`` returns.

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
        ``gtol``, ``disp``, ``return_all``, ``compiled``, ``stop``) and, for ``method="bundle"``,
        ``memory``, as scipy takes them. Their defaults:

        ================  ====================================================================
        ``alpha``         1.0, in (0, 2]
        ``lower_bound``   0.0 (a number, or ``"auto"``)
        ``max_lr``        1.0 for ``nagd``; None (no cap) for ``bundle`` and with ``"auto"``
        ``maxiter``       10000
        ``tol``           1e-8, on ``f - lower_bound``
        ``gtol``          1e-8; 1e-6 with ``"auto"``
        ``disp``          False
        ``return_all``    False
        ``compiled``      None: the Python loop, then compiled after 2000 steps when possible
        ``stop``          None (``nagd`` only)
        ``memory``        ``min(n + 2, 100)`` cuts (``bundle`` only)
        ================  ====================================================================

    method : {"nagd", "bundle"}, default "nagd"
        `nagd` (the paper's method) or `bundle` (Polyak steps with memory; takes ``memory``).
    **kwargs
        The same options as keywords. An option given both ways raises TypeError.

    Returns
    -------
    OptimizeResult
        As `nagd` (or `bundle`).

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
    if method not in OPTION_NAMES:
        raise ValueError(f"method must be 'nagd' or 'bundle', got {method!r}")
    names = OPTION_NAMES[method]
    unknown = [name for name in kwargs if name not in names]
    given = {k: v for k, v in kwargs.items() if k in names}
    return _solve(fun, x0, args, jac, callback, bounds, given, unknown, [], stacklevel=3, method=method)
