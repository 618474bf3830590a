"""The descent loops: compiled (`descend`, in Numba) and at Python level (`python_descend`)."""
import numpy as np
from numba import njit

from ... import kernels, problems
from ...optim import SGD, NaGD

__all__ = ["descend", "python_descend", "PRECISIONS", "SGD_METHOD", "NAGD_METHOD", "DIVERGED"]

SGD_METHOD, NAGD_METHOD = 0, 1
DIVERGED = 1e20
"""A run has diverged when f is not finite or exceeds this."""


# ----------------------------------------------------------------------------------------------
# The loops


PRECISIONS = ("float64", "float32", "float32-all")
"""The arithmetic of a run: see the module docstring."""

_N_PROBLEMS = len(problems.PROBLEMS)


@njit(cache=True)
def _step_all_float32(x, g, method, h, fx, lower_bound):
    """x <- x - lr*g with every operation in x's dtype (float32: the paper's arithmetic)."""
    T = x.dtype.type
    if method == SGD_METHOD:
        lr = T(h)
    else:
        gg = T(0.0)
        for i in range(g.shape[0]):
            gg += g[i] * g[i]
        lr = T(kernels.polyak_lr(gg, T(fx) - T(lower_bound), T(h), T(1.0), T(0.0)))
        if not (lr > T(0.0)):
            return
    for i in range(x.shape[0]):
        x[i] = x[i] - lr * g[i]


@njit(cache=True)
def descend(pid, x, method, h, lower_bound, thresholds, maxiter, trace, all_float32=False):
    """Run SGD (method 0, lr h) or NaSGD (method 1, alpha h, max_lr 1) from x; changes x and trace.

    Parameters
    ----------
    pid : int
        A problem id of `nagd.problems` (`nagd.problems.Problem.pid`); f and its gradient
        come from `nagd.problems.value` and `nagd.problems.gradient`.
    x : ndarray of shape (n,), float32 or float64
        The starting point; holds the last iterate on return.
    method : int
        0 for SGD, 1 for NaSGD.
    h : float
        SGD's learning rate or NaSGD's alpha.
    lower_bound : float
        The problem's minimum (NaSGD's L).
    thresholds : ndarray of shape (k,), float64
        Decreasing gaps ``f - lower_bound`` to reach.
    maxiter : int
    trace : ndarray of shape (m, n), dtype of x
        Receives the first m iterates (m may be 0).
    all_float32 : bool, default False
        Compute the step in x's dtype (``"float32-all"`` for float32 x) instead of float64
        rounded once; see the module docstring.

    Returns
    -------
    hits : ndarray of shape (k,), int64
        ``hits[j]``: 1-based step of the first iterate with ``f - lower_bound <= thresholds[j]``,
        -1 if never.
    status : int
        0 when every threshold is reached, 1 after maxiter steps (always so with no
        thresholds), 2 diverged (f not finite or above DIVERGED).
    steps : int
        Iterates evaluated.

    Raises
    ------
    ValueError
        If pid is not a problem id of `nagd.problems`.
    """
    if pid < 0 or pid >= _N_PROBLEMS:
        raise ValueError("pid must be a problem id of nagd.problems (Problem.pid)")
    m = thresholds.shape[0]
    hits = np.full(m, -1, np.int64)
    j = 0
    ntrace = trace.shape[0]
    for k in range(maxiter + 1):
        if k < ntrace:
            for i in range(x.shape[0]):
                trace[k, i] = x[i]
        fx = problems.value(pid, x)
        f = fx - lower_bound
        while j < m and f <= thresholds[j]:
            hits[j] = k + 1
            j += 1
        if m > 0 and j == m:
            return hits, 0, k + 1
        if not (f <= DIVERGED):
            return hits, 2, k + 1
        if k == maxiter:
            break
        g = problems.gradient(pid, x)
        if all_float32:
            _step_all_float32(x, g, method, h, fx, lower_bound)
        elif method == SGD_METHOD:
            kernels.axpy(x, g, h)
        else:
            lr = kernels.polyak_lr(kernels.sq_norm(g), f, h, 1.0, 0.0)
            if lr > 0.0:
                kernels.axpy(x, g, lr)
    return hits, 1, maxiter + 1


def python_descend(problem, x0, method, h, thresholds, maxiter):
    """The same run as `descend` at Python level, in float64: the loop a user writes.

    One loop for both methods: ``f = fun(x)``, ``g = jac(x)``, ``opt.step(x, g, f)`` with
    ``opt`` a `nagd.optim.SGD` (lr h) or a `nagd.optim.NaGD` (alpha h, max_lr 1), so their
    times compare like with like.

    Parameters
    ----------
    problem : nagd.problems.Problem
    x0 : array_like of shape (n,)
    method, h, thresholds, maxiter
        As in `descend`.

    Returns
    -------
    hits : list of int
    status : int
        As `descend`.
    steps : int
    """
    fun, jac, L = problem.fun, problem.grad, problem.minimum
    thr = [float(t) for t in thresholds]
    m = len(thr)
    hits = [-1] * m
    j = 0
    x = np.array(x0, dtype=np.float64)
    opt = SGD(lr=h, lower_bound=L) if method == SGD_METHOD else NaGD(alpha=h, lower_bound=L, max_lr=1.0)
    for k in range(maxiter + 1):
        f = fun(x)
        while j < m and f - L <= thr[j]:
            hits[j] = k + 1
            j += 1
        if m and j == m:
            return hits, 0, k + 1
        if not (f - L <= DIVERGED):
            return hits, 2, k + 1
        if k == maxiter:
            break
        opt.step(x, jac(x), f)
    return hits, 1, maxiter + 1
