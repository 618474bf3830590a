"""The NaGD iteration: the loop state, the step and its tests (`_advance`), and the two loops.

`_python_loop` calls any ``fun``/``jac``; `_compiled_loop` runs the whole iteration in
compiled code for Numba-jitted ones. Both share `_advance`, so their iterates are bit-identical.
"""
import math

import numpy as np
from numba import njit
from scipy.optimize import OptimizeResult

from .. import kernels
from ..optim.lower_bound import PATH_STATE, path_level
from ._inputs import _gradient, _scalar

_STATUS_MESSAGES = {
    0: "Optimization terminated successfully.",
    1: "Maximum number of iterations has been exceeded.",
    2: "A non-finite value of the objective or of its gradient was met; the finite iterate with the lowest f is "
       "returned.",
    3: "The objective fell below lower_bound: the lower bound is wrong (it must not exceed the minimum of f).",
    4: "The stopping rule `stop` fired: the step size has stopped falling, which does not show that x is a "
       "minimum.",
    5: "No step changes x any more: the level the cuts allow is the best value found, to rounding; x is the "
       "best point found, not a certified minimum.",
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
    (those coordinates stay on their bound). Changes out and state only. ||g||^2 (`_box_sq_norm`),
    the step size (kernels.polyak_lr) and the step (`_write_step`'s two cases) are shared with the
    bundle method and inlined here by Numba (as this function is into the compiled loop: a call to
    a separately compiled function costs about as much as a whole 2-D iteration).
    """
    gg = _box_sq_norm(x, g, lb, ub, boxed)
    if not (gg < math.inf):
        return 2
    if f < state[_BEST]:                       # after the gradient test: the best point has a finite gradient
        state[_BEST] = f
    if k & (k - 1) == 0:                       # k = 0, 1, 2, 4, ...
        state[_MARK_PREV] = state[_MARK]
        state[_MARK] = state[_BEST]
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
    if boxed:
        return _box_step(x, g, out, lr, lb, ub)
    return _free_step(x, g, out, lr)


@kernels._jit(inline=True)
def _box_sq_norm(x, g, lb, ub, boxed):
    """||g||^2 in float64; with a box (boxed) the projected gradient's, inf if an entry of g is inf or NaN.

    The projected gradient leaves out the entries of g that push x against an active bound of
    lb, ub (x - lr*g would be clipped back there). Without a box, `kernels.sq_norm` (NaN or inf
    when g has a non-finite entry). Shared by NaGD's `_advance` and the bundle method's step.
    """
    if boxed:
        gg = 0.0
        bad = 0.0
        for i in range(g.shape[0]):
            gi = np.float64(g[i])
            bad += gi * 0.0                    # NaN as soon as one entry is inf or NaN
            if not ((gi > 0.0 and x[i] <= lb[i]) or (gi < 0.0 and x[i] >= ub[i])):
                gg += gi * gi
        if bad != 0.0:
            return math.inf
        return gg
    return kernels.sq_norm(g)


@kernels._jit(inline=True)
def _write_step(x, d, out, lr, lb, ub, boxed):
    """out = x - lr*d, clipped into the box lb, ub if boxed; _BAD_NEXT if an entry of out is inf or NaN, else _STEPPED.

    The step of NaGD's `_advance` and of the bundle method. `_advance` calls the two cases itself:
    with lb and ub passed through this function, the unboxed compiled loop counted references to
    them on every iteration (two more increments; 80 ns a 2-D step became 100 ns).
    """
    if boxed:
        return _box_step(x, d, out, lr, lb, ub)
    return _free_step(x, d, out, lr)


@kernels._jit(inline=True)
def _box_step(x, d, out, lr, lb, ub):
    """`_write_step` with a box."""
    check = 0.0
    for i in range(d.shape[0]):
        v = x[i] - lr * np.float64(d[i])
        if v < lb[i]:
            v = lb[i]
        elif v > ub[i]:
            v = ub[i]
        out[i] = v
        check += v * 0.0
    if check != 0.0:
        return _BAD_NEXT
    return _STEPPED


@kernels._jit(inline=True)
def _free_step(x, d, out, lr):
    """`_write_step` without a box."""
    check = 0.0
    for i in range(d.shape[0]):
        out[i] = x[i] - lr * np.float64(d[i])
        check += out[i] * 0.0                  # NaN as soon as one stored entry is inf or NaN
    if check != 0.0:
        return _BAD_NEXT
    return _STEPPED


def _compiled_loop(fun, jac, x0, args, lb, ub, state, alpha, max_lr, tol, gtol, maxiter, ftrace, resume=None):
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
    resume : tuple or None
        ``(k, nfev, njev, best_x, best_g)`` to go on from where `_python_loop` handed over
        (x0 is then iterate k, and state the run's state).

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
    n = x0.shape[0]
    x, nxt, best_x, best_g, scratch = x0.copy(), np.empty(n), np.empty(n), np.empty(n), np.empty(n)
    counts = np.zeros(3, dtype=np.int64)        # k, nfev, njev
    if resume is not None:                      # go on from the Python loop: x0 is iterate k, not yet evaluated
        k, nfev, njev, bx, bg = resume
        counts[:] = (k, nfev, njev)
        best_x[:], best_g[:] = bx, bg
    while True:                                 # back in Python every CHUNK steps: Ctrl-C is handled here
        result = loop(fun, jac, x, nxt, best_x, best_g, scratch, counts, args, lb, ub, state, alpha, max_lr, tol,
                      gtol, maxiter, ftrace, CHUNK)
        if result[0] != _PAUSED:
            return result


CHUNK = 4096
"""Steps the compiled loops take between returns to Python, where signals (Ctrl-C) are handled:
a pause costs about a microsecond, and Ctrl-C waits for at most this many evaluations of fun."""

_PAUSED = -5       # the compiled loop returned to Python after CHUNK steps; call it again to go on

_COMPILED_LOOPS = {}   # (boxed, auto) -> the compiled loop of that variant


def _make_compiled_loop(BOXED, AUTO):
    """The compiled loop with boxed and auto fixed: Numba treats the two as constants and drops the
    other variants' branches from the loop (docs/benchmarks.md, Core (b), has the time per step).

    It resumes where it paused: x holds iterate counts[0] (not yet evaluated), best_x/best_g and
    state the run so far. fun and jac see a copy of x (scratch), never x itself.

    x stays the same array for the whole run: a step is written into nxt and copied back into x
    (and into scratch, for the next fun). Swapping x and nxt instead made them loop-carried
    references, and with the copies into scratch in the loop Numba's reference-count pruning no
    longer removed the increments and decrements around the inlined `_advance`: eight atomic
    operations a step, 2-D Rosenbrock at 85 ns a step instead of 35 (docs/benchmarks.md, Core (b)).
    """

    @njit
    def loop(fun, jac, x, nxt, best_x, best_g, scratch, counts, args, lb, ub, state, alpha, max_lr, tol, gtol,
             maxiter, ftrace, chunk):
        n = x.shape[0]
        gtol2 = gtol * gtol
        k, nfev, njev = counts[0], counts[1], counts[2]
        stop_at = k + chunk
        for i in range(n):                         # from here on scratch holds x when fun is called
            scratch[i] = x[i]
        while True:
            if k >= stop_at:                       # x holds iterate k, not yet evaluated
                counts[0], counts[1], counts[2] = k, nfev, njev
                return _PAUSED, k, nfev, njev, x, 0.0, best_g
            f = float(fun(scratch, *args))
            nfev += 1
            if k < ftrace.shape[0]:
                ftrace[k] = f
            if not math.isfinite(f):
                if k == 0:
                    return 2, 0, nfev, njev, x, f, np.full(n, np.nan)
                return 2, k - 1, nfev, njev, best_x, state[_BEST], best_g
            for i in range(n):
                scratch[i] = x[i]
            g = jac(scratch, *args)
            njev += 1
            if g.shape[0] != n:
                return _BAD_SHAPE, k, nfev, njev, x, f, np.full(g.shape[0], np.nan)
            improved = f < state[_BEST]
            code = _advance(x, g, nxt, f, k, state, alpha, max_lr, tol, gtol2, lb, ub, k < maxiter, BOXED, AUTO)
            if improved and code != 2:
                for i in range(n):
                    best_x[i] = x[i]
                    best_g[i] = g[i]
            if code != _STEPPED:
                if code == 2 and k > 0:            # a non-finite gradient at x_k: the best point before it
                    return 2, k - 1, nfev, njev, best_x, state[_BEST], best_g
                if state[_BEST] < f:
                    return code if code != _BAD_NEXT else 2, k, nfev, njev, best_x, state[_BEST], best_g
                gout = np.empty(n)
                for i in range(n):
                    gout[i] = g[i]
                if code == _BAD_NEXT:
                    code = 2
                return code, k, nfev, njev, x, f, gout
            for i in range(n):                     # x_{k+1}: into x, and into scratch for fun
                v = nxt[i]
                x[i] = v
                scratch[i] = v
            k += 1

    return loop


def _python_loop(fun, jac, fd, x, args, lb, ub, state, opts, callback, kind, allvecs, handoff=None):
    """The same iteration as `_compiled_loop` for any Python callables; see it for the results.

    fd is a `_FiniteDifferences` (then jac is None) or None; opts the run's `Options`. With
    ``handoff`` (a number of steps) a run still going at that step stops before evaluating its
    iterate and returns ``(_PAUSED, k, nfev, njev, x, best_x, best_g)`` for `_compiled_loop`.
    """
    alpha, max_lr, maxiter, tol, gtol, stop = opts.alpha, opts.max_lr, opts.maxiter, opts.tol, opts.gtol, opts.stop
    n = x.shape[0]
    nxt = np.empty_like(x)                      # after a step: the previous iterate
    gtol2 = gtol * gtol
    nfev = njev = k = 0
    fired = False
    fun1, jac1 = _bind(fun, jac, fd, args)
    advance, isfinite, ndarray, f64 = _advance, math.isfinite, np.ndarray, np.dtype(np.float64)
    auto = state[_AUTO] != 0.0
    boxed = lb.shape[0] != 0
    best_x, best_g = np.empty_like(x), np.empty_like(x)   # the iterate with the lowest f, its gradient
    while True:
        if handoff is not None and k >= handoff:
            return _PAUSED, k, nfev, njev, x, best_x, best_g
        f = fun1(x.copy())                      # a copy: fun may write into its argument (as scipy's methods)
        nfev += 1
        if not isinstance(f, float):
            f = _scalar(f)
        if not isfinite(f):
            if k == 0:
                return 2, 0, nfev, njev, x, f, np.full(n, np.nan)
            return 2, k - 1, nfev, njev, best_x, state[_BEST], best_g
        if fd is not None:
            fd.calls = 0
            g = fd(x, f)
            nfev += fd.calls
        else:
            g = jac1(x.copy())
            njev += 1
            if type(g) is not ndarray or g.dtype is not f64 or g.ndim != 1 or len(g) != n:   # any layout is fine
                g = _gradient(g, n)
        improved = f < state[_BEST]
        code = advance(x, g, nxt, f, k, state, alpha, max_lr, tol, gtol2, lb, ub, k < maxiter and not fired,
                       boxed, auto)
        if improved and code != 2:
            best_x[:] = x
            best_g[:] = g
        if code == 2:
            if k == 0:
                return 2, 0, nfev, njev, x, f, g
            return 2, k - 1, nfev, njev, best_x, state[_BEST], best_g
        if kind and k > 0 and _stopped_by(callback, kind, x, f, g, k):
            code = 99
        if code != _STEPPED:
            if code == 1 and fired:
                code = 4
            if code == _BAD_NEXT:
                code = 2
            if state[_BEST] < f:
                return code, k, nfev, njev, best_x, state[_BEST], best_g
            return code, k, nfev, njev, x, f, g
        if stop is not None and stop.update(state[_LR]):
            fired = True                        # x_{k+1} is still evaluated and tested
        x, nxt = nxt, x
        k += 1
        if allvecs is not None:
            allvecs.append(x.copy())


def _bind(fun, jac, fd, args):
    """fun and jac with args bound, for the Python loops (fun(x, *args) costs a tuple per call: bind once).

    fd (a `_FiniteDifferences`, or None) is set to difference the bound fun.
    """
    if args:
        fun1, jac1 = (lambda xx: fun(xx, *args)), (None if jac is None else (lambda xx: jac(xx, *args)))
    else:
        fun1, jac1 = fun, jac
    if fd is not None:
        fd.fun = fun1
    return fun1, jac1


def _stopped_by(callback, kind, x, f, g, k):
    """Call the user's callback at iterate x_k (kind 2: with an OptimizeResult, 1: with a copy of x).

    Returns True if it raised StopIteration (status 99).
    """
    try:
        if kind == 2:
            callback(intermediate_result=OptimizeResult(x=x.copy(), fun=f, jac=g.copy(), nit=k))
        else:
            callback(x.copy())
    except StopIteration:
        return True
    return False
