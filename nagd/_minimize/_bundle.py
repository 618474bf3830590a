"""Polyak steps with memory: the bundle of cuts, the level, the step, and the two loops.

A *cut* is the linearisation ``l_j(y) = f_j + g_j.(y - x_j)`` of ``f`` at a point seen,
a minorant of a convex ``f``. The bundle keeps the newest ``memory - 1`` cuts plus one
*aggregate* cut (the multiplier-weighted average of the cuts of the last projection,
itself a minorant), or, with ``memory=1``, the newest cut alone. Each step projects the
current iterate ``x_k`` onto the polyhedron ``{y : l_j(y) <= level for every cut}``:

* with a known ``lower_bound`` ``L`` the level is ``L`` (the Polyak minorant method);
  with one cut this is exactly NaGD's step;
* with ``lower_bound="auto"`` the level is ``f_up - LAMBDA (f_up - f_low)`` between the
  best value ``f_up`` and a certified lower bound ``f_low`` (a level bundle method), or,
  while no bound is certified, the path-based level of `nagd.optim.lower_bound.path_level`.

When the polyhedron is empty the cut model proves that the level is below the minimum of
``f``: the Farkas multipliers ``lam`` (``lam >= 0``, ``sum lam = 1``, ``sum lam_j g_j = 0``)
give the bound ``f* >= sum lam_j l_j(x_k)``, which raises ``f_low`` (and, with a known
``L`` that turns out to be below the minimum, replaces ``L``).

The projection and the certificate are `nagd._minimize._qp`'s. Everything here is compiled;
the Python loop and the compiled loop call the same `_bundle_step` and end in the same
`_bundle_outcome`. With ``"auto"`` a
trial point much worse than the best sends the next projection from the best point (a proximal
level step); the state layout is below.
"""
import math

import numpy as np
from numba import njit

from .. import kernels
from ..optim.lower_bound import PATH_STATE, path_level
from ._inputs import _gradient, _scalar
from ._loops import _BAD_NEXT, _BAD_SHAPE, _PAUSED, _STEPPED, CHUNK, _bind, _box_sq_norm, _stopped_by, _write_step
from ._qp import _FEASIBLE, _INFEASIBLE, _ldp

LAMBDA = 0.5
"""Where the level sits between ``f_up`` and a certified ``f_low``: ``f_up - LAMBDA*(f_up - f_low)``."""

GROW = 1.5
"""While no bound is certified (``"auto"``), the path rule's offset grows by this factor whenever an
iterate reaches the level aimed at (memory >= 2; with one cut the rule is NaGD's)."""

# The scalars of a bundle run, in one float64 array `S`.
_F_UP = 0         # lowest f seen
_F_LOW = 1        # the lower bound in force: the user's L, or a certified one, or -inf
_LEVEL = 2        # the level of the last projection
_LR = 3           # the step size of the last step (sum of multipliers, relaxed and capped)
_STEPLEN = 4      # the length of the last step
_USER_L = 5       # the user's lower bound (nan with "auto")
_RAISED = 6       # 1.0 once a certificate raised f_low above the user's L (or above -inf)
_AUTO = 7         # 1.0 with lower_bound="auto"
_CERTS = 8        # number of certificates found
_LAM = 9          # the level's place: f_up - lam*(f_up - f_low); lam halves on a sign that the level is too low
_PATH = 10        # path_level's state (PATH_STATE entries)
_S_SIZE = _PATH + PATH_STATE

# The integer bookkeeping, in one int64 array `meta`.
_COUNT = 0        # cuts in the ring
_NEXT = 1         # the ring slot the next cut goes to
_AGG = 2          # 1 when slot 0 holds a valid aggregate cut
_BEST_SLOT = 3    # the ring slot of the best point's cut
_RETREATS = 4     # retreats in a row (see `_bundle_step`)
_M_SIZE = 5

_NO_STEP = -4      # no step changes x: the level is at the best value to rounding (status 5)

_MAX_RELEVEL = 20         # new levels tried in one step (each halves the distance to the best value)
_EPS = float(np.finfo(np.float64).eps)


def new_bundle(n, memory, lower_bound, auto):
    """Allocate the state of a bundle run on n variables: ``(S, meta, B)``."""
    S = np.zeros(_S_SIZE)
    S[_F_UP] = math.inf
    S[_F_LOW] = -math.inf if auto else lower_bound
    S[_USER_L] = math.nan if auto else lower_bound
    S[_AUTO] = 1.0 if auto else 0.0
    S[_LEVEL] = S[_F_LOW]
    S[_LAM] = 1.0
    meta = np.zeros(_M_SIZE, dtype=np.int64)
    meta[_NEXT] = 1 if memory >= 2 else 0
    meta[_BEST_SLOT] = -1
    m = memory
    B = (np.zeros((m, n)), np.zeros(m), np.zeros((m, m)), np.zeros(m),       # G, v, Q, norms
         np.zeros((m, m)), np.zeros((m, m)), np.zeros((8, m)),                # M, Cholesky, vectors
         np.zeros(m, dtype=np.int64), np.zeros(n), np.zeros(n), np.zeros(n))  # index list, direction, centre, best
    return S, meta, B


@njit(cache=True)
def _insert_cut(B, meta, memory, g, f, best):
    """Put the cut (g, value f at the centre) in the ring; return its slot.

    The ring's oldest cut goes, unless it is the best point's (the centre's with "auto"):
    then the next oldest. ``best`` says that the new cut is the best point's.
    """
    G, v, Q, nrm = B[0], B[1], B[2], B[3]
    n = g.shape[0]
    first = 1 if memory >= 2 else 0
    slot = meta[_NEXT]
    if slot == meta[_BEST_SLOT] and memory - first >= 2 and meta[_COUNT] == memory - first:
        slot = slot + 1 if slot + 1 < memory else first    # the best point's cut stays
    for i in range(n):
        G[slot, i] = g[i]
    v[slot] = f
    if meta[_COUNT] < memory - first:
        meta[_COUNT] += 1
    meta[_NEXT] = slot + 1 if slot + 1 < memory else first
    # Gram row of the new cut against every cut in use
    for j in range(memory):
        if j == slot or (j >= first and j - first < meta[_COUNT]) or (j == 0 and first == 1 and meta[_AGG] == 1):
            d = 0.0
            for i in range(n):
                d += G[slot, i] * G[j, i]
            Q[slot, j] = d
            Q[j, slot] = d
    nrm[slot] = math.sqrt(Q[slot, slot])
    if best:
        meta[_BEST_SLOT] = slot
    return slot


@njit(cache=True)
def _cuts_in_use(meta, memory, nrm, idx):
    first = 1 if memory >= 2 else 0
    m = 0
    if first == 1 and meta[_AGG] == 1 and nrm[0] > 0.0:
        idx[m] = 0
        m += 1
    for j in range(first, first + meta[_COUNT]):
        if nrm[j] > 0.0:
            idx[m] = j
            m += 1
    return m


@njit(cache=True)
def _level(S, k, f, auto):
    """The level for the projection from iterate k (path rule while nothing is certified)."""
    if S[_F_LOW] > -math.inf and (S[_RAISED] != 0.0 or not auto):
        return S[_F_UP] - S[_LAM] * (S[_F_UP] - S[_F_LOW])
    return path_level(S[_PATH:_PATH + PATH_STATE], k, f, S[_F_UP], S[_STEPLEN])


def _base_lam(S):
    """lam after a new best value or a new bound: 1 at the user's L (the Polyak level), else LAMBDA."""
    return 1.0 if S[_RAISED] == 0.0 else LAMBDA


_base_lam = njit(cache=True)(_base_lam)


@njit(cache=True)
def _raise_level(S, level, auto):
    """A higher level after a sign that it is below what the cuts allow, with no bound proved."""
    if auto and S[_RAISED] == 0.0:            # nothing certified yet: halve the path rule's delta
        S[_PATH] = max(0.5 * S[_PATH], 4.0 * _EPS * abs(S[_F_UP]))
        return S[_F_UP] - S[_PATH]
    S[_LAM] *= 0.5                             # halfway to the best value, never the bound
    return S[_F_UP] - S[_LAM] * (S[_F_UP] - S[_F_LOW])


@njit(cache=True)
def _bundle_step(x, g, out, f, k, S, meta, B, memory, alpha, max_lr, tol, gtol2, lb, ub, may_step, best_x, best_g):
    """Both loops' iteration at x_k (f = f(x_k), g its subgradient if f is finite): x_{k+1} into out, or a stop.

    With f and g finite, `_bundle_advance` tests x_k and steps, and best_x, best_g become x_k and g
    when f is the lowest value seen (S[_F_UP]). Otherwise x_k was a trial point too far (g is not
    read if f is not finite): a *retreat* raises the level and projects from the centre again, a
    shorter step; unless x_k is x0, memory is 1, _MAX_RELEVEL retreats came in a row or not
    may_step, which ends the run with 2 at the best point. Returns `_bundle_advance`'s codes;
    meta[_RETREATS] > 0 after a retreat.
    """
    finite = math.isfinite(f)
    if finite:
        gg = 0.0
        for i in range(g.shape[0]):
            gg += g[i] * g[i]
        finite = math.isfinite(gg)
    if not finite:
        if k == 0 or memory == 1 or meta[_RETREATS] >= _MAX_RELEVEL or not may_step:
            return 2
        meta[_RETREATS] += 1
        auto = S[_AUTO] != 0.0
        level = _raise_level(S, S[_LEVEL], auto)
        S[_LEVEL] = level
        return _project_step(out, S, meta, B, memory, alpha, max_lr, tol, lb, ub, level, auto)
    meta[_RETREATS] = 0
    improved = f < S[_F_UP]
    code = _bundle_advance(x, g, out, f, k, S, meta, B, memory, alpha, max_lr, tol, gtol2, lb, ub, may_step)
    if improved and code != 2:
        for i in range(x.shape[0]):
            best_x[i] = x[i]
            best_g[i] = g[i]
    return code


_FINAL_STATUS = {_BAD_NEXT: 2, _NO_STEP: 5}


def _bundle_outcome(code, k, nfev, njev, f, S, best_x, best_g):
    """What both loops return after stopping with `_bundle_step`'s code at iterate k (f: fun's last value).

    ``(status, nit, nfev, njev, x, f, g)`` at the best point, whose f is S[_F_UP]; status 2 with
    nit 0 and fun's last value if no f (nor its subgradient) was ever finite.
    """
    if S[_F_UP] == math.inf:
        return 2, 0, nfev, njev, best_x, f, best_g
    return _FINAL_STATUS.get(code, code), k, nfev, njev, best_x, float(S[_F_UP]), best_g


@njit(cache=True)
def _bundle_advance(x, g, out, f, k, S, meta, B, memory, alpha, max_lr, tol, gtol2, lb, ub, may_step):
    """Test iterate x_k (finite f, subgradient g) and, unless it stops there, write x_{k+1} into out.

    Returns the codes of `nagd._minimize._loops._advance`: 2, 3 (f below the user's L - tol),
    0 (the gap f_up - f_low <= tol, or |g|^2 <= gtol2), 1 (not may_step), -3 or -1.
    """
    n = g.shape[0]
    auto = S[_AUTO] != 0.0
    boxed = lb.shape[0] != 0
    gg = _box_sq_norm(x, g, lb, ub, boxed)
    if not (gg < math.inf):
        return 2
    # the level was reached (3/4 of the decrease aimed at, or more): nothing certified yet, aim lower
    prev_up, prev_level = S[_F_UP], S[_LEVEL]
    reached = k > 0 and f <= prev_level + 0.25 * (prev_up - prev_level)
    improved = f < prev_up
    if improved:
        S[_F_UP] = f
        S[_LAM] = _base_lam(S)
    if not auto and f < S[_USER_L] - tol:
        return 3
    if auto and memory >= 2 and reached and S[_RAISED] == 0.0:
        S[_PATH] *= GROW
    level = _level(S, k, f, auto)
    S[_LEVEL] = level
    if S[_F_UP] - S[_F_LOW] <= tol:
        return 0
    if gg <= gtol2:
        return 0
    if not may_step:
        return 1
    G, v, Q, nrm, BM, BC, vec, idx, z, xc, xb = B
    if memory == 1:                            # one cut: NaGD's step, to the bit
        lr = kernels.polyak_lr(gg, f - level, alpha, max_lr, 0.0)
        if lr == 0.0:
            return _BAD_NEXT
        S[_LR] = lr
        S[_STEPLEN] = lr * math.sqrt(gg)
        return _write_step(x, g, out, lr, lb, ub, boxed)
    # The centre projected from: the current iterate, except with "auto" after a trial point
    # much worse than the best (f - f_up above the last aimed decrease), where it is the best
    # point (a proximal level step: a level below the minimum then costs one trial point, not a
    # run that walks away). The cut values v move with the centre.
    if improved:
        for i in range(n):
            xb[i] = x[i]
    to_best = auto and k > 0 and not improved and f - prev_up > prev_up - prev_level
    if k > 0:
        for a in range(_cuts_in_use(meta, memory, nrm, idx)):
            j = idx[a]
            d = 0.0
            for i in range(n):
                d += G[j, i] * ((xb[i] if to_best else x[i]) - xc[i])
            v[j] += d
    fc = f
    noise = 0.0
    if to_best:
        for i in range(n):
            d = g[i] * (xb[i] - x[i])
            fc += d
            noise += abs(d)
            xc[i] = xb[i]
    else:
        for i in range(n):
            xc[i] = x[i]
    # a cut from a point so far that its value at the centre is rounding noise (at the scale of
    # the gap aimed at) is left out, and the level moves up instead: the trial went too far
    if k > 0 and 8.0 * _EPS * (abs(f) + noise) > 0.01 * (prev_up - prev_level):
        level = _raise_level(S, level, auto)
        S[_LEVEL] = level
    else:
        _insert_cut(B, meta, memory, g, fc, improved)
    return _project_step(out, S, meta, B, memory, alpha, max_lr, tol, lb, ub, level, auto)


@njit(cache=True)
def _project_step(out, S, meta, B, memory, alpha, max_lr, tol, lb, ub, level, auto):
    """Project the centre onto the cuts' level set (raising f_low or the level while it is empty); write out."""
    G, v, Q, nrm, BM, BC, vec, idx, z, xc, xb = B
    n = xc.shape[0]
    boxed = lb.shape[0] != 0
    mu = vec[6]
    m = 0
    total = 0.0
    for attempt in range(_MAX_RELEVEL):
        m = _cuts_in_use(meta, memory, nrm, idx)
        outcome, total, bound = _ldp(G, Q, nrm, v, level, idx, m, BM, BC, vec, mu)
        if outcome == _FEASIBLE:
            break
        if bound > -math.inf and bound > S[_F_LOW]:
            S[_F_LOW] = min(bound, S[_F_UP])
            S[_RAISED] = 1.0
            S[_CERTS] += 1.0
            if S[_F_UP] - S[_F_LOW] <= tol:
                return 0
            S[_LAM] = LAMBDA
            level = S[_F_UP] - LAMBDA * (S[_F_UP] - S[_F_LOW])
        else:
            raised = _raise_level(S, level, auto)
            if not (raised > level):           # at the best value to rounding: no level left to try
                outcome = _INFEASIBLE
                break
            level = raised
        S[_LEVEL] = level
    else:
        outcome = _INFEASIBLE
    if outcome != _FEASIBLE or not (total > 0.0):
        # no usable projection: a single-cut step at the level along the best point's cut
        bs = meta[_BEST_SLOT]
        if bs < 0 or not (nrm[bs] > 0.0):
            return _NO_STEP
        lr = kernels.polyak_lr(nrm[bs] * nrm[bs], v[bs] - level, alpha, max_lr, 0.0)
        if lr == 0.0:
            return _NO_STEP
        S[_LR] = lr
        S[_STEPLEN] = lr * nrm[bs]
        for i in range(n):
            z[i] = G[bs, i]
        return _write_step(xc, z, out, lr, lb, ub, boxed)
    # the aggregate direction and cut: z = sum mu_j g_j / total
    for i in range(n):
        z[i] = 0.0
    vagg = 0.0
    for a in range(m):
        w = mu[a] / total
        if w != 0.0:
            j = idx[a]
            vagg += w * v[j]
            for i in range(n):
                z[i] += w * G[j, i]
    t = vec[7]                                 # t_j = z.g_j for every slot in use
    for b in range(m):
        jb = idx[b]
        s = 0.0
        for a in range(m):
            if mu[a] != 0.0:
                s += (mu[a] / total) * Q[idx[a], jb]
        t[jb] = s
    zz = 0.0
    for i in range(n):
        zz += z[i] * z[i]
    lr = alpha * total
    if lr > max_lr:
        lr = max_lr
    if not (zz > 0.0):
        return _NO_STEP
    if not (lr < math.inf):
        return _BAD_NEXT
    S[_LR] = lr
    S[_STEPLEN] = lr * math.sqrt(zz)
    code = _write_step(xc, z, out, lr, lb, ub, boxed)
    if code != _STEPPED:
        return code
    # slot 0 becomes the aggregate cut, with its value at the centre
    for i in range(n):
        G[0, i] = z[i]
    v[0] = vagg
    meta[_AGG] = 1
    for b in range(m):
        jb = idx[b]
        if jb != 0:
            Q[0, jb] = t[jb]
            Q[jb, 0] = t[jb]
    Q[0, 0] = zz
    nrm[0] = math.sqrt(zz)
    return _STEPPED


def _bundle_python_loop(fun, jac, fd, x, args, lb, ub, S, meta, B, opts, callback, kind, allvecs, handoff=None):
    """The bundle iteration for any Python callables; returns what `_compiled_loop` returns, with x the best point.

    fd is a `_FiniteDifferences` (then jac is None) or None; opts the run's `Options`. ``handoff``
    as in `nagd._minimize._loops._python_loop` (retreats in a row and the best f are in meta and S).
    """
    memory, alpha, max_lr, maxiter, tol, gtol = opts.memory, opts.alpha, opts.max_lr, opts.maxiter, opts.tol, opts.gtol
    n = x.shape[0]
    nxt = np.empty_like(x)
    best_x, best_g = x.copy(), np.full(n, np.nan)
    gtol2 = gtol * gtol
    nfev = njev = k = 0
    fun1, jac1 = _bind(fun, jac, fd, args)
    step, isfinite, ndarray, f64 = _bundle_step, math.isfinite, np.ndarray, np.dtype(np.float64)
    while True:
        if handoff is not None and k >= handoff:
            return _PAUSED, k, nfev, njev, x, best_x, best_g
        f = fun1(x.copy())
        nfev += 1
        if not isinstance(f, float):
            f = _scalar(f)
        g = x                                  # not read unless f is finite
        if isfinite(f):
            if fd is not None:
                fd.calls = 0
                g = fd(x, f)
                nfev += fd.calls
            else:
                g = jac1(x.copy())
                njev += 1
                if type(g) is not ndarray or g.dtype is not f64 or g.ndim != 1 or len(g) != n:
                    g = _gradient(g, n)
        code = step(x, g, nxt, f, k, S, meta, B, memory, alpha, max_lr, tol, gtol2, lb, ub, k < maxiter, best_x, best_g)
        if code == 2:
            break
        retreat = meta[_RETREATS] != 0
        if kind and k > 0 and not retreat and _stopped_by(callback, kind, x, f, g, k):
            code = 99
            break
        if code != _STEPPED:
            break
        x, nxt = nxt, x
        k += 1
        if allvecs is not None:
            allvecs.append(x.copy())
    return _bundle_outcome(code, k, nfev, njev, f, S, best_x, best_g)


def _bundle_compiled_loop(fun, jac, x0, args, lb, ub, S, meta, B, memory, alpha, max_lr, tol, gtol, maxiter,
                          resume=None):
    """The bundle iteration in compiled code for Numba-jitted fun and jac; see `_bundle_python_loop`.

    Returns to Python every `nagd._minimize._loops.CHUNK` steps, where Ctrl-C is handled.
    ``resume``: ``(k, nfev, njev, best_x, best_g)`` from the Python loop's handoff.
    """
    n = x0.shape[0]
    x, nxt, best_x, best_g, scratch = x0.copy(), np.empty(n), x0.copy(), np.full(n, np.nan), np.empty(n)
    counts = np.zeros(3, dtype=np.int64)         # k, nfev, njev
    if resume is not None:
        k, nfev, njev, bx, bg = resume
        counts[:] = (k, nfev, njev)
        best_x[:], best_g[:] = bx, bg
    while True:
        result = _bundle_compiled_chunk(fun, jac, x, nxt, best_x, best_g, scratch, counts, args, lb, ub, S, meta, B,
                                        memory, alpha, max_lr, tol, gtol, maxiter, CHUNK)
        code, k, nfev, njev, _, f, _ = result
        if code == _BAD_SHAPE:
            return result
        if code != _PAUSED:
            return _bundle_outcome(code, k, nfev, njev, f, S, best_x, best_g)


@njit
def _bundle_compiled_chunk(fun, jac, x, nxt, best_x, best_g, scratch, counts, args, lb, ub, S, meta, B, memory,
                           alpha, max_lr, tol, gtol, maxiter, chunk):
    """At most chunk iterations; the stop's code (or _PAUSED, the iterate then back in x) and fun's last value."""
    n = x.shape[0]
    home = x
    gtol2 = gtol * gtol
    k, nfev, njev = counts[0], counts[1], counts[2]
    stop_at = k + chunk
    gd = np.empty(n)
    while True:
        if k >= stop_at:
            for i in range(n):
                scratch[i] = x[i]
            for i in range(n):
                home[i] = scratch[i]
            counts[0], counts[1], counts[2] = k, nfev, njev
            return _PAUSED, k, nfev, njev, home, 0.0, best_g
        for i in range(n):
            scratch[i] = x[i]
        f = float(fun(scratch, *args))
        nfev += 1
        if math.isfinite(f):
            for i in range(n):
                scratch[i] = x[i]
            g = jac(scratch, *args)
            njev += 1
            if g.shape[0] != n:
                return _BAD_SHAPE, k, nfev, njev, x, f, np.full(g.shape[0], np.nan)
            for i in range(n):
                gd[i] = g[i]
        code = _bundle_step(x, gd, nxt, f, k, S, meta, B, memory, alpha, max_lr, tol, gtol2, lb, ub, k < maxiter,
                            best_x, best_g)
        if code != _STEPPED:
            return code, k, nfev, njev, best_x, f, best_g
        x, nxt = nxt, x
        k += 1
