"""The bundle method's projection: the least-distance problem over the cuts, and its certificates.

Projecting the centre onto ``{y : l_j(y) <= level}`` is the least-distance problem
``min |z|`` s.t. ``g_j.z <= level - l_j(centre)``, solved as Lawson and Hanson do (Solving Least
Squares Problems, 1974, ch. 23): an NNLS over the multipliers in Gram form (`nnls_gram`), with
rows scaled to unit length and the right-hand side to at most 1, so that every test is
relative (`_ldp`). When the set is empty, the Farkas weights prove a lower bound of f
(`_certificate`). All compiled, no BLAS; the certificate's SVD is LAPACK's.
"""
import math

import numpy as np
from numba import njit

# LDP outcomes
_FEASIBLE, _INFEASIBLE = 0, 1
_INFEASIBLE_S = 1e-8       # 1 - h.u below this: the projection is >= 1e4 times farther than any single cut's
_CERT_RTOL = 1e-10         # |sum lam_j g_j| <= this * sum lam_j |g_j|: the multipliers certify a bound
_LH_TOL = 1e-13            # Lawson-Hanson: a multiplier enters when its gradient exceeds this
_PIVOT = 1e-12             # Cholesky pivot below this (relative): the cut is dependent on those in use


@njit(cache=True)
def _cholesky(M, idx, p, C):
    """Factor M[idx[:p], idx[:p]] = C C^T into C[:p, :p]; return the first dependent position or -1."""
    for a in range(p):
        ia = idx[a]
        for b in range(a + 1):
            s = M[ia, idx[b]]
            for c in range(b):
                s -= C[a, c] * C[b, c]
            if a == b:
                if not (s > _PIVOT * max(M[ia, ia], 1e-300)):
                    return a
                C[a, a] = math.sqrt(s)
            else:
                C[a, b] = s / C[b, b]
    return -1


@njit(cache=True)
def _chol_solve(C, p, rhs, out):
    """Solve C C^T out = rhs (length p)."""
    for a in range(p):
        s = rhs[a]
        for c in range(a):
            s -= C[a, c] * out[c]
        out[a] = s / C[a, a]
    for a in range(p - 1, -1, -1):
        s = out[a]
        for c in range(a + 1, p):
            s -= C[c, a] * out[c]
        out[a] = s / C[a, a]


@njit(cache=True)
def nnls_gram(M, h, m, u, C, work):
    """Lawson-Hanson NNLS in Gram form: ``min_{u >= 0} u.M.u/2 - h.u`` for an m x m PSD ``M``.

    ``u`` (length >= m) receives the solution; ``C`` (m x m) and ``work`` (4 x m) are scratch.
    Returns the number of outer iterations. Columns whose pivot is dependent on the passive
    set stay at zero.
    """
    passive = work[0]          # 1.0 in the passive set
    w = work[1]
    s = work[2]
    tmp = work[3]
    idx = np.empty(m, dtype=np.int64)
    blocked = np.zeros(m, dtype=np.int64)
    for j in range(m):
        u[j] = 0.0
        passive[j] = 0.0
    it = 0
    while it < 3 * m + 10:
        it += 1
        best, jbest = _LH_TOL, -1
        for j in range(m):
            if passive[j] == 0.0 and blocked[j] == 0:
                g = h[j]
                for i in range(m):
                    g -= M[j, i] * u[i]
                if g > best:
                    best, jbest = g, j
        if jbest < 0:
            break
        passive[jbest] = 1.0
        while True:
            p = 0
            for j in range(m):
                if passive[j] != 0.0:
                    idx[p] = j
                    p += 1
            bad = _cholesky(M, idx, p, C)
            if bad >= 0:                       # dependent: leave it out for good
                passive[idx[bad]] = 0.0
                blocked[idx[bad]] = 1
                if idx[bad] == jbest:
                    break
                continue
            for a in range(p):
                tmp[a] = h[idx[a]]
            _chol_solve(C, p, tmp, w)
            ok = True
            for a in range(p):
                if not (w[a] > 0.0):
                    ok = False
            if ok:
                for j in range(m):
                    s[j] = 0.0
                for a in range(p):
                    s[idx[a]] = w[a]
                for j in range(m):
                    u[j] = s[j]
                break
            step = 1.0
            for a in range(p):
                j = idx[a]
                if not (w[a] > 0.0):
                    d = u[j] - w[a]
                    t = u[j] / d if d > 0.0 else 0.0
                    if t < step:
                        step = t
            for j in range(m):
                s[j] = 0.0
            for a in range(p):
                s[idx[a]] = w[a]
            for j in range(m):
                if passive[j] != 0.0:
                    u[j] += step * (s[j] - u[j])
                    if u[j] <= 1e-300 or (step < 1.0 and s[j] <= 0.0 and abs(u[j]) <= 1e-15):
                        u[j] = 0.0
                        passive[j] = 0.0
            anyp = False
            for j in range(m):
                if passive[j] != 0.0:
                    anyp = True
            if not anyp:
                break
    return it


@njit(cache=True)
def _ldp(G, Q, nrm, v, level, idx, m, B_M, B_C, vec, mu):
    """Project onto {z : g_j.z <= level - v_j, j in idx[:m]}: z = -sum mu_j g_j.

    Returns (outcome, sum mu, bound): with _FEASIBLE mu (indexed by position in idx) gives the
    projection; with _INFEASIBLE mu holds the Farkas weights (sum 1) and bound is
    sum mu_j v_j when they certify it (|sum mu_j g_j| small), else -inf.
    """
    hn = vec[4]
    un = vec[5]
    sig = 0.0
    for a in range(m):
        j = idx[a]
        d = (v[j] - level) / nrm[j]
        if d > sig:
            sig = d
    if not (sig > 0.0):
        for a in range(m):
            mu[a] = 0.0
        return _FEASIBLE, 0.0, -math.inf
    for a in range(m):
        j = idx[a]
        hn[a] = (v[j] - level) / (nrm[j] * sig)
    for a in range(m):
        ja = idx[a]
        for b in range(m):
            jb = idx[b]
            B_M[a, b] = Q[ja, jb] / (nrm[ja] * nrm[jb]) + hn[a] * hn[b]
    nnls_gram(B_M, hn, m, un, B_C, vec[:4])
    hu = 0.0
    for a in range(m):
        hu += hn[a] * un[a]
    s = 1.0 - hu
    if s > _INFEASIBLE_S:
        total = 0.0
        for a in range(m):
            mu[a] = sig * un[a] / (s * nrm[idx[a]])
            total += mu[a]
        return _FEASIBLE, total, -math.inf
    return _INFEASIBLE, 0.0, _certificate(G, Q, nrm, v, idx, m, un, mu)


@njit(cache=True)
def _certificate(G, Q, nrm, v, idx, m, un, mu):
    """The lower bound that an infeasible projection proves, or -inf when it proves none.

    The Farkas weights of the NNLS (``un``, Gram form, so accurate to about the square root of
    the rounding error) are polished: projected onto the numerical null space of the unit
    subgradients of the cuts they use (an SVD), and if that gives no nonnegative combination,
    of all cuts. A polished ``lam >= 0`` (``sum lam = 1``) with
    ``|sum lam_j g_j| <= _CERT_RTOL * sum lam_j |g_j|`` proves ``f >= sum lam_j l_j(x_k)``
    (the residual, times the distance to a minimiser, is the rounding that bound carries).
    ``mu`` (length >= m) receives ``lam`` by position in ``idx``.
    """
    used = 0
    for a in range(m):
        if un[a] > 0.0:
            used += 1
    for attempt in range(1 if used == m else 2):   # the cuts of the NNLS, then all of them
        bound = _polished(G, nrm, v, idx, m, un, mu, attempt == 1)
        if bound > -math.inf:
            return bound
    return -math.inf


@njit(cache=True)
def _polished(G, nrm, v, idx, m, un, mu, every):
    n = G.shape[1]
    p = 0
    for a in range(m):
        if un[a] > 0.0 or every:
            p += 1
    if p < 2:
        return -math.inf
    A = np.empty((n, p))
    pos = np.empty(p, dtype=np.int64)
    c = 0
    for a in range(m):
        if un[a] > 0.0 or every:
            j = idx[a]
            for i in range(n):
                A[i, c] = G[j, i] / nrm[j]
            pos[c] = a
            c += 1
    _, sv, vt = np.linalg.svd(A, full_matrices=p > n)   # vt is p x p: its last rows span the null space
    rank = 0
    for r in range(sv.shape[0]):
        if sv[r] > 1e-10 * sv[0]:
            rank += 1
    if rank >= p:
        return -math.inf
    w = np.zeros(p)                            # the weights projected onto the null space
    for r in range(rank, p):
        d = 0.0
        for c in range(p):
            d += vt[r, c] * max(un[pos[c]], 0.0)
        for c in range(p):
            w[c] += d * vt[r, c]
    for a in range(m):
        mu[a] = 0.0
    total = 0.0
    for c in range(p):
        lam = w[c] / nrm[idx[pos[c]]]
        if lam < 0.0:
            lam = 0.0
        mu[pos[c]] = lam
        total += lam
    if not (total > 0.0):
        return -math.inf
    bound = 0.0
    scale = 0.0
    for a in range(m):
        mu[a] /= total
        if mu[a] != 0.0:
            bound += mu[a] * v[idx[a]]
            scale += mu[a] * nrm[idx[a]]
    rr = 0.0                                   # |sum lam_j g_j|, summed in the variables' space
    for i in range(n):
        r = 0.0
        for a in range(m):
            if mu[a] != 0.0:
                r += mu[a] * G[idx[a], i]
        rr += r * r
    if math.sqrt(rr) <= _CERT_RTOL * scale:
        return bound
    return -math.inf
