"""Nonsmooth convex test problems: the Lukšan-Vlček set and five large-scale ones.

Two standard collections of convex, nonsmooth, unconstrained test problems, each with
its standard starting point, dimension and published optimal value ``f*``:

`LUKSAN_VLCEK`
    The 16 convex problems of Lukšan & Vlček's unconstrained nonsmooth set: CB2, CB3,
    DEM, QL, LQ, Mifflin1, Mifflin2, Wolfe, Rosen-Suzuki, Shor, Maxquad, Maxq, Maxl,
    Goffin, MXHILB and L1HILB (n from 2 to 50).
`large_scale`
    The convex problems of Haarala, Miettinen & Mäkelä, defined for any n:
    generalised MAXQ and MXHILB, chained LQ, chained CB3 I and II (names in
    `LARGE_SCALE`).

Every problem is a `NonsmoothProblem`. Its two functions are ``@njit(cache=True)``, so a
compiled optimisation loop can call them, and work in float64:

``fun(x) -> float``
    The value at a 1-D float64 array ``x`` of length n.
``jac(x) -> ndarray``
    One subgradient: a new float64 array of shape (n,). Where ``fun`` is differentiable
    (almost everywhere) it is the gradient; at a kink it is the gradient of one active
    piece (the first in the order of the formula), or 0 for a term ``|t|`` with t = 0,
    which is always an element of the subdifferential.

`relative_error` measures progress as ``(f - f*) / (f(x0) - f*)``. The large-scale problems are those of [2]_.

The formulas, starting points and dimensions follow the authors' Fortran test routines
(Lukšan & Vlček's TEST19 subroutines TIUD19/TFFU19/TFGU19 and Haarala's TNSUNC
STARTX/FUNC). The optimal values, starting values and quoted minimisers were checked
against independent implementations (PyOPUS's copy of the optimal-value table of [1]_,
the LukFi functions of SMS++, OpenOpt, rHanso, soobench) and the optimum of every
problem without a closed form was recomputed by solving its optimality conditions (see
each problem's ``source`` and the comments below).
The optimal values ``fstar`` are the published ones, rounded as published (CB2, Shor
and Maxquad to 7 or 8 significant digits; the others are exact).

References
----------
.. [1] L. Lukšan and J. Vlček, "Test problems for nonsmooth unconstrained and linearly
   constrained optimization", Technical report V-798, Institute of Computer Science,
   Academy of Sciences of the Czech Republic, Prague, 2000.
.. [2] M. Haarala, K. Miettinen and M. M. Mäkelä, "New limited memory bundle method for
   large-scale nonsmooth optimization", Optimization Methods and Software 19(6),
   673-692, 2004.
"""
import math
from numbers import Integral
from typing import NamedTuple

import numpy as np
from numba import njit

__all__ = ["NonsmoothProblem", "LUKSAN_VLCEK", "LARGE_SCALE", "large_scale", "relative_error"]

_LV = "Lukšan & Vlček (2000), TR V-798"
_HMM = "Haarala, Miettinen & Mäkelä (2004), OMS 19(6)"


class NonsmoothProblem(NamedTuple):
    """A nonsmooth test problem with its standard start and published optimum.

    Attributes
    ----------
    name : str
    n : int
        Number of variables.
    x0 : ndarray
        The standard starting point, float64 of shape (n,). The arrays of `LUKSAN_VLCEK`
        are shared and read-only: copy them before changing them in place.
    fstar : float
        The published optimal value (the minimum of ``fun``).
    xstar : ndarray or None
        A minimiser, float64 of shape (n,): exact where known in closed form, otherwise
        accurate to about 12 digits (see the comments in the source for the published
        approximations it agrees with). None where none is known.
    fun : Numba function
        ``fun(x) -> float``.
    jac : Numba function
        ``jac(x) -> ndarray``: one subgradient, a new float64 array of shape (n,).
    source : str
        Short citation of the problem's definition.
    """

    name: str
    n: int
    x0: np.ndarray
    fstar: float
    xstar: object
    fun: object
    jac: object
    source: str


# ----------------------------------------------------------------------------------------
# Two-variable problems
# ----------------------------------------------------------------------------------------

@njit(cache=True)
def _cb_pieces(x, p):
    """(f1, f2, f3) of CB2 (p = 0: x1^2 + x2^4) or CB3 (p = 1: x1^4 + x2^2)."""
    a = x[0]
    b = x[1]
    if p == 0:
        f1 = a * a + b * b * b * b
    else:
        f1 = a * a * a * a + b * b
    f2 = (2.0 - a) * (2.0 - a) + (2.0 - b) * (2.0 - b)
    f3 = 2.0 * math.exp(b - a)
    return f1, f2, f3


@njit(cache=True)
def _cb_jac(x, p):
    a = x[0]
    b = x[1]
    f1, f2, f3 = _cb_pieces(x, p)
    g = np.empty(2)
    if f1 >= f2 and f1 >= f3:
        if p == 0:
            g[0] = 2.0 * a
            g[1] = 4.0 * b * b * b
        else:
            g[0] = 4.0 * a * a * a
            g[1] = 2.0 * b
    elif f2 >= f3:
        g[0] = 2.0 * a - 4.0
        g[1] = 2.0 * b - 4.0
    else:
        g[1] = f3
        g[0] = -f3
    return g


@njit(cache=True)
def cb2(x):
    """CB2: max(x1^2 + x2^4, (2 - x1)^2 + (2 - x2)^2, 2 exp(x2 - x1))."""
    f1, f2, f3 = _cb_pieces(x, 0)
    return max(f1, f2, f3)


@njit(cache=True)
def cb2_jac(x):
    """A subgradient of `cb2`."""
    return _cb_jac(x, 0)


@njit(cache=True)
def cb3(x):
    """CB3: max(x1^4 + x2^2, (2 - x1)^2 + (2 - x2)^2, 2 exp(x2 - x1))."""
    f1, f2, f3 = _cb_pieces(x, 1)
    return max(f1, f2, f3)


@njit(cache=True)
def cb3_jac(x):
    """A subgradient of `cb3`."""
    return _cb_jac(x, 1)


@njit(cache=True)
def dem(x):
    """DEM (Demyanov-Malozemov): max(5 x1 + x2, -5 x1 + x2, x1^2 + x2^2 + 4 x2)."""
    a = x[0]
    b = x[1]
    return max(5.0 * a + b, -5.0 * a + b, a * a + b * b + 4.0 * b)


@njit(cache=True)
def dem_jac(x):
    """A subgradient of `dem`."""
    a = x[0]
    b = x[1]
    f1 = 5.0 * a + b
    f2 = -5.0 * a + b
    f3 = a * a + b * b + 4.0 * b
    g = np.empty(2)
    g[1] = 1.0
    if f1 >= f2 and f1 >= f3:
        g[0] = 5.0
    elif f2 >= f3:
        g[0] = -5.0
    else:
        g[0] = 2.0 * a
        g[1] = 2.0 * b + 4.0
    return g


@njit(cache=True)
def ql(x):
    """QL: max(f1, f1 + 10 (4 - 4 x1 - x2), f1 + 10 (6 - x1 - 2 x2)) with f1 = x1^2 + x2^2."""
    a = x[0]
    b = x[1]
    f1 = a * a + b * b
    return f1 + max(0.0, 10.0 * (4.0 - 4.0 * a - b), 10.0 * (6.0 - a - 2.0 * b))


@njit(cache=True)
def ql_jac(x):
    """A subgradient of `ql`."""
    a = x[0]
    b = x[1]
    t2 = 10.0 * (4.0 - 4.0 * a - b)
    t3 = 10.0 * (6.0 - a - 2.0 * b)
    g = np.empty(2)
    g[0] = 2.0 * a
    g[1] = 2.0 * b
    if 0.0 >= t2 and 0.0 >= t3:
        pass
    elif t2 >= t3:
        g[0] -= 40.0
        g[1] -= 10.0
    else:
        g[0] -= 10.0
        g[1] -= 20.0
    return g


@njit(cache=True)
def lq(x):
    """LQ: max(-x1 - x2, -x1 - x2 + x1^2 + x2^2 - 1)."""
    a = x[0]
    b = x[1]
    return -a - b + max(0.0, a * a + b * b - 1.0)


@njit(cache=True)
def lq_jac(x):
    """A subgradient of `lq`."""
    a = x[0]
    b = x[1]
    g = np.empty(2)
    g[0] = -1.0
    g[1] = -1.0
    if a * a + b * b - 1.0 > 0.0:
        g[0] += 2.0 * a
        g[1] += 2.0 * b
    return g


@njit(cache=True)
def mifflin1(x):
    """Mifflin1: -x1 + 20 max(x1^2 + x2^2 - 1, 0)."""
    a = x[0]
    b = x[1]
    return -a + 20.0 * max(a * a + b * b - 1.0, 0.0)


@njit(cache=True)
def mifflin1_jac(x):
    """A subgradient of `mifflin1`."""
    a = x[0]
    b = x[1]
    g = np.empty(2)
    g[0] = -1.0
    g[1] = 0.0
    if a * a + b * b - 1.0 > 0.0:
        g[0] += 40.0 * a
        g[1] = 40.0 * b
    return g


@njit(cache=True)
def mifflin2(x):
    """Mifflin2: -x1 + 2 (x1^2 + x2^2 - 1) + 1.75 |x1^2 + x2^2 - 1|."""
    a = x[0]
    b = x[1]
    t = a * a + b * b - 1.0
    return -a + 2.0 * t + 1.75 * abs(t)


@njit(cache=True)
def mifflin2_jac(x):
    """A subgradient of `mifflin2`: (c x1 - 1, c x2) with c = 4 + 3.5 sign(t)."""
    a = x[0]
    b = x[1]
    t = a * a + b * b - 1.0
    c = 4.0 + 3.5 * np.sign(t)
    g = np.empty(2)
    g[0] = c * a - 1.0
    g[1] = c * b
    return g


@njit(cache=True)
def wolfe(x):
    """Wolfe: 5 sqrt(9 x1^2 + 16 x2^2) if x1 > |x2|, else 9 x1 + 16 |x2| - (x1^9 if x1 <= 0)."""
    a = x[0]
    b = x[1]
    if a > abs(b):
        return 5.0 * math.sqrt(9.0 * a * a + 16.0 * b * b)
    f = 9.0 * a + 16.0 * abs(b)
    if a <= 0.0:
        a2 = a * a
        a4 = a2 * a2
        f -= a4 * a4 * a
    return f


@njit(cache=True)
def wolfe_jac(x):
    """A subgradient of `wolfe`."""
    a = x[0]
    b = x[1]
    g = np.empty(2)
    if a > abs(b):
        r = math.sqrt(9.0 * a * a + 16.0 * b * b)
        g[0] = 45.0 * a / r
        g[1] = 80.0 * b / r
    else:
        g[0] = 9.0
        if a < 0.0:
            a2 = a * a
            a4 = a2 * a2
            g[0] -= 9.0 * a4 * a4
        g[1] = 16.0 * np.sign(b)
    return g


# ----------------------------------------------------------------------------------------
# Rosen-Suzuki, Shor, Maxquad
# ----------------------------------------------------------------------------------------

@njit(cache=True)
def _rosen_suzuki_parts(x):
    """(f1, f2, f3, f4): the objective and the three constraints of Rosen-Suzuki."""
    a, b, c, d = x[0], x[1], x[2], x[3]
    s = a * a + b * b + c * c
    f1 = s + c * c + d * d - 5.0 * (a + b) - 21.0 * c + 7.0 * d
    f2 = s + d * d + a - b + c - d - 8.0
    f3 = s + b * b + 2.0 * d * d - a - d - 10.0
    f4 = s + 2.0 * a - b - d - 5.0
    return f1, f2, f3, f4


@njit(cache=True)
def rosen_suzuki(x):
    """Rosen-Suzuki as an exact penalty: f1 + 10 max(0, f2, f3, f4)."""
    f1, f2, f3, f4 = _rosen_suzuki_parts(x)
    return f1 + 10.0 * max(0.0, f2, f3, f4)


@njit(cache=True)
def rosen_suzuki_jac(x):
    """A subgradient of `rosen_suzuki`."""
    a, b, c, d = x[0], x[1], x[2], x[3]
    f1, f2, f3, f4 = _rosen_suzuki_parts(x)
    g = np.empty(4)
    g[0] = 2.0 * a - 5.0
    g[1] = 2.0 * b - 5.0
    g[2] = 4.0 * c - 21.0
    g[3] = 2.0 * d + 7.0
    m = max(0.0, f2, f3, f4)
    if m > 0.0:
        if f2 == m:
            h = (2.0 * a + 1.0, 2.0 * b - 1.0, 2.0 * c + 1.0, 2.0 * d - 1.0)
        elif f3 == m:
            h = (2.0 * a - 1.0, 4.0 * b, 2.0 * c, 4.0 * d - 1.0)
        else:
            h = (2.0 * a + 2.0, 2.0 * b - 1.0, 2.0 * c, -1.0)
        g[0] += 10.0 * h[0]
        g[1] += 10.0 * h[1]
        g[2] += 10.0 * h[2]
        g[3] += 10.0 * h[3]
    return g


# Shor: f(x) = max_i b_i sum_j (x_j - a_ij)^2, the data of TIUD19 (problem 12).
_SHOR_A = np.array([
    [0.0, 0.0, 0.0, 0.0, 0.0],
    [2.0, 1.0, 1.0, 1.0, 3.0],
    [1.0, 2.0, 1.0, 1.0, 2.0],
    [1.0, 4.0, 1.0, 2.0, 2.0],
    [3.0, 2.0, 1.0, 0.0, 1.0],
    [0.0, 2.0, 1.0, 0.0, 1.0],
    [1.0, 1.0, 1.0, 1.0, 1.0],
    [1.0, 0.0, 1.0, 2.0, 1.0],
    [0.0, 0.0, 2.0, 1.0, 0.0],
    [1.0, 1.0, 2.0, 0.0, 0.0],
])
_SHOR_B = np.array([1.0, 5.0, 10.0, 2.0, 4.0, 3.0, 1.7, 2.5, 6.0, 3.5])


@njit(cache=True)
def _shor_active(x):
    best = -np.inf
    k = 0
    for i in range(10):
        s = 0.0
        for j in range(5):
            t = x[j] - _SHOR_A[i, j]
            s += t * t
        s *= _SHOR_B[i]
        if s > best:
            best = s
            k = i
    return best, k


@njit(cache=True)
def shor(x):
    """Shor: max_i b_i ||x - a_i||^2 over ten points a_i of R^5."""
    return _shor_active(x)[0]


@njit(cache=True)
def shor_jac(x):
    """A subgradient of `shor`: 2 b_k (x - a_k) for an active k."""
    k = _shor_active(x)[1]
    g = np.empty(5)
    for j in range(5):
        g[j] = 2.0 * _SHOR_B[k] * (x[j] - _SHOR_A[k, j])
    return g


def _maxquad_data(n=10, m=5):
    """A_k (symmetric, diagonally dominant) and b_k of Maxquad, k = 1..m (TIUD19 problem 16)."""
    a = np.zeros((m, n, n))
    b = np.zeros((m, n))
    for k in range(1, m + 1):
        for i in range(1, n + 1):
            for j in range(i + 1, n + 1):
                a[k - 1, i - 1, j - 1] = a[k - 1, j - 1, i - 1] = math.exp(i / j) * math.cos(i * j) * math.sin(k)
        for i in range(1, n + 1):
            b[k - 1, i - 1] = math.exp(i / k) * math.sin(i * k)
            a[k - 1, i - 1, i - 1] = i / 10 * abs(math.sin(k)) + np.abs(a[k - 1, i - 1]).sum()
    return a, b


_MAXQUAD_A, _MAXQUAD_B = _maxquad_data()


@njit(cache=True)
def _maxquad_active(x):
    n = x.shape[0]
    best = -np.inf
    kbest = 0
    for k in range(_MAXQUAD_A.shape[0]):
        s = 0.0
        for i in range(n):
            t = -_MAXQUAD_B[k, i]
            for j in range(n):
                t += _MAXQUAD_A[k, i, j] * x[j]
            s += t * x[i]
        if s > best:
            best = s
            kbest = k
    return best, kbest


@njit(cache=True)
def maxquad(x):
    """Maxquad: max_k (x' A_k x - b_k' x), k = 1..5, n = 10."""
    return _maxquad_active(x)[0]


@njit(cache=True)
def maxquad_jac(x):
    """A subgradient of `maxquad`: 2 A_k x - b_k for an active k."""
    k = _maxquad_active(x)[1]
    n = x.shape[0]
    g = np.empty(n)
    for i in range(n):
        t = -_MAXQUAD_B[k, i]
        for j in range(n):
            t += 2.0 * _MAXQUAD_A[k, i, j] * x[j]
        g[i] = t
    return g


# ----------------------------------------------------------------------------------------
# Problems of any dimension (Maxq, Maxl, Goffin, MXHILB, L1HILB and the chained ones)
# ----------------------------------------------------------------------------------------

@njit(cache=True)
def maxq(x):
    """MAXQ: max_i x_i^2."""
    f = x[0] * x[0]
    for i in range(1, x.shape[0]):
        f = max(f, x[i] * x[i])
    return f


@njit(cache=True)
def maxq_jac(x):
    """A subgradient of `maxq`: 2 x_k e_k for an active k."""
    k = 0
    f = x[0] * x[0]
    for i in range(1, x.shape[0]):
        if x[i] * x[i] > f:
            f = x[i] * x[i]
            k = i
    g = np.zeros(x.shape[0])
    g[k] = 2.0 * x[k]
    return g


@njit(cache=True)
def maxl(x):
    """MAXL: max_i |x_i|."""
    f = abs(x[0])
    for i in range(1, x.shape[0]):
        f = max(f, abs(x[i]))
    return f


@njit(cache=True)
def maxl_jac(x):
    """A subgradient of `maxl`: sign(x_k) e_k for an active k."""
    k = 0
    f = abs(x[0])
    for i in range(1, x.shape[0]):
        if abs(x[i]) > f:
            f = abs(x[i])
            k = i
    g = np.zeros(x.shape[0])
    g[k] = np.sign(x[k])
    return g


@njit(cache=True)
def goffin(x):
    """Goffin: n max_i x_i - sum_i x_i (n = 50 in the set)."""
    n = x.shape[0]
    return n * np.max(x) - np.sum(x)


@njit(cache=True)
def goffin_jac(x):
    """A subgradient of `goffin`: n e_k - 1 for an active k."""
    n = x.shape[0]
    g = np.full(n, -1.0)
    g[np.argmax(x)] += n
    return g


@njit(cache=True)
def _hilbert_rows(x):
    """s_i = sum_j x_j / (i + j - 1), i, j = 1..n: the Hilbert matrix times x."""
    n = x.shape[0]
    s = np.zeros(n)
    for i in range(n):
        t = 0.0
        for j in range(n):
            t += x[j] / (i + j + 1.0)
        s[i] = t
    return s


@njit(cache=True)
def mxhilb(x):
    """MXHILB: max_i |sum_j x_j / (i + j - 1)|."""
    return np.max(np.abs(_hilbert_rows(x)))


@njit(cache=True)
def mxhilb_jac(x):
    """A subgradient of `mxhilb`: sign(s_k) (1 / (k + j - 1))_j for an active row k."""
    s = _hilbert_rows(x)
    k = np.argmax(np.abs(s))
    c = np.sign(s[k])
    n = x.shape[0]
    g = np.empty(n)
    for j in range(n):
        g[j] = c / (k + j + 1.0)
    return g


@njit(cache=True)
def l1hilb(x):
    """L1HILB: sum_i |sum_j x_j / (i + j - 1)|."""
    return np.sum(np.abs(_hilbert_rows(x)))


@njit(cache=True)
def l1hilb_jac(x):
    """A subgradient of `l1hilb`: sum_i sign(s_i) / (i + j - 1)."""
    s = _hilbert_rows(x)
    n = x.shape[0]
    g = np.zeros(n)
    for i in range(n):
        c = np.sign(s[i])
        if c != 0.0:
            for j in range(n):
                g[j] += c / (i + j + 1.0)
    return g


@njit(cache=True)
def chained_lq(x):
    """Chained LQ: sum_i max(-x_i - x_{i+1}, -x_i - x_{i+1} + x_i^2 + x_{i+1}^2 - 1)."""
    f = 0.0
    for i in range(x.shape[0] - 1):
        a = x[i]
        b = x[i + 1]
        f += -a - b + max(0.0, a * a + b * b - 1.0)
    return f


@njit(cache=True)
def chained_lq_jac(x):
    """A subgradient of `chained_lq`."""
    n = x.shape[0]
    g = np.zeros(n)
    for i in range(n - 1):
        a = x[i]
        b = x[i + 1]
        g[i] -= 1.0
        g[i + 1] -= 1.0
        if a * a + b * b - 1.0 > 0.0:
            g[i] += 2.0 * a
            g[i + 1] += 2.0 * b
    return g


@njit(cache=True)
def _cb3_terms(a, b):
    """The three pieces of CB3 on the pair (a, b)."""
    return a * a * a * a + b * b, (2.0 - a) * (2.0 - a) + (2.0 - b) * (2.0 - b), 2.0 * math.exp(b - a)


@njit(cache=True)
def chained_cb3_1(x):
    """Chained CB3 I: sum_i max(x_i^4 + x_{i+1}^2, (2 - x_i)^2 + (2 - x_{i+1})^2, 2 exp(x_{i+1} - x_i))."""
    f = 0.0
    for i in range(x.shape[0] - 1):
        f1, f2, f3 = _cb3_terms(x[i], x[i + 1])
        f += max(f1, f2, f3)
    return f


@njit(cache=True)
def chained_cb3_1_jac(x):
    """A subgradient of `chained_cb3_1`."""
    n = x.shape[0]
    g = np.zeros(n)
    for i in range(n - 1):
        a = x[i]
        b = x[i + 1]
        f1, f2, f3 = _cb3_terms(a, b)
        if f1 >= f2 and f1 >= f3:
            g[i] += 4.0 * a * a * a
            g[i + 1] += 2.0 * b
        elif f2 >= f3:
            g[i] += 2.0 * a - 4.0
            g[i + 1] += 2.0 * b - 4.0
        else:
            g[i] -= f3
            g[i + 1] += f3
    return g


@njit(cache=True)
def _chained_cb3_2_sums(x):
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    for i in range(x.shape[0] - 1):
        f1, f2, f3 = _cb3_terms(x[i], x[i + 1])
        s1 += f1
        s2 += f2
        s3 += f3
    return s1, s2, s3


@njit(cache=True)
def chained_cb3_2(x):
    """Chained CB3 II: the max of the three sums over i of the CB3 pieces on (x_i, x_{i+1})."""
    s1, s2, s3 = _chained_cb3_2_sums(x)
    return max(s1, s2, s3)


@njit(cache=True)
def chained_cb3_2_jac(x):
    """A subgradient of `chained_cb3_2`: the gradient of an active sum."""
    n = x.shape[0]
    s1, s2, s3 = _chained_cb3_2_sums(x)
    g = np.zeros(n)
    for i in range(n - 1):
        a = x[i]
        b = x[i + 1]
        if s1 >= s2 and s1 >= s3:
            g[i] += 4.0 * a * a * a
            g[i + 1] += 2.0 * b
        elif s2 >= s3:
            g[i] += 2.0 * a - 4.0
            g[i + 1] += 2.0 * b - 4.0
        else:
            e = 2.0 * math.exp(b - a)
            g[i] -= e
            g[i + 1] += e
    return g


# ----------------------------------------------------------------------------------------
# The collections
# ----------------------------------------------------------------------------------------

def _frozen(values):
    a = np.array(values, dtype=np.float64)
    a.flags.writeable = False
    return a


def _maxq_start(n):
    """x_i = i for i <= n // 2, x_i = -i after (1-based), the start of Maxq and generalised MAXQ."""
    i = np.arange(1, n + 1, dtype=np.float64)
    return np.where(i <= n // 2, i, -i)


def _lv(name, number, x0, fstar, xstar, fun, jac):
    x0 = _frozen(x0)
    return NonsmoothProblem(name, x0.size, x0, float(fstar), None if xstar is None else _frozen(xstar), fun, jac,
                            f"{_LV}, TEST19 no. {number}")


_S2 = 1.0 / math.sqrt(2.0)

LUKSAN_VLCEK = {p.name: p for p in (
    # Optimal values: table of [1] as listed by pyopus.problems.lvns (UNS.fminTab) and SMS++'s
    # LukFiBlock.h; starting points and dimensions: TIUD19 (f2c copy in pyopus, src/lvns/lvuns.c).
    # CB2: f* = 1.9522245 (1.952224493870659 by solving the optimality conditions). The minimiser
    # often quoted, (1.139286, 0.899365), is 2.5e-4 away and gives f = 1.9522260; the one below
    # solves the KKT system of the two active pieces to machine precision.
    _lv("CB2", 3, (1.0, -0.1), 1.9522245, (1.139037651992663, 0.899559938395393), cb2, cb2_jac),
    _lv("CB3", 4, (2.0, 2.0), 2.0, (1.0, 1.0), cb3, cb3_jac),
    _lv("DEM", 5, (1.0, 1.0), -3.0, (0.0, -3.0), dem, dem_jac),
    _lv("QL", 6, (-1.0, 5.0), 7.2, (1.2, 2.4), ql, ql_jac),
    # LQ: published as -1.4142136; the exact value is -sqrt(2) at (1/sqrt(2), 1/sqrt(2)).
    _lv("LQ", 7, (-0.5, -0.5), -math.sqrt(2.0), (_S2, _S2), lq, lq_jac),
    _lv("Mifflin1", 8, (0.8, 0.6), -1.0, (1.0, 0.0), mifflin1, mifflin1_jac),
    # Mifflin2 is listed as nonconvex by some collections; it is convex: t -> 2 t + 1.75 |t| is
    # convex and nondecreasing (slopes 0.25 and 3.75) and t = x1^2 + x2^2 - 1 is convex.
    _lv("Mifflin2", 9, (-1.0, -1.0), -1.0, (1.0, 0.0), mifflin2, mifflin2_jac),
    _lv("Wolfe", 10, (3.0, 2.0), -8.0, (-1.0, 0.0), wolfe, wolfe_jac),
    _lv("Rosen-Suzuki", 11, (0.0, 0.0, 0.0, 0.0), -44.0, (0.0, 1.0, 2.0, -1.0), rosen_suzuki, rosen_suzuki_jac),
    # Shor: f* = 22.600162 (22.6001620957709 from the KKT system of the four active pieces 2, 4, 5,
    # 9); rHanso quotes x* = (1.1243510, 0.9794616, 1.4777077, 0.9202335, 1.1242916), within 1e-7.
    _lv("Shor", 12, (0.0, 0.0, 0.0, 0.0, 1.0), 22.600162,
        (1.124351010186616, 0.979461599313655, 1.477707751964263, 0.920233485884858, 1.124291588004843),
        shor, shor_jac),
    # Maxquad: start x_i = 1 (TIUD19; f(x0) = 5337.0664, as in OpenOpt's runs of this problem; one
    # MATLAB collection starts at 0 instead). f* = -0.8414083 (-0.8414083345964 from the KKT system
    # of the four active pieces 2-5, OpenOpt: -0.841408334596); OpenOpt's 6-digit minimiser
    # (-0.126257, -0.0343781, -0.0068572, 0.0263607, 0.067295, -0.278399, 0.0742187, 0.138524,
    # 0.0840313, 0.0385803) agrees with the one below to 1e-6.
    _lv("Maxquad", 16, np.ones(10), -0.8414083,
        (-0.126256580774725, -0.034378302562041, -0.006857198326981, 0.026360658246338, 0.067294922689741,
         -0.278399500751994, 0.074218664544694, 0.138524047837297, 0.084031223125332, 0.038580309772731),
        maxquad, maxquad_jac),
    _lv("Maxq", 19, _maxq_start(20), 0.0, np.zeros(20), maxq, maxq_jac),
    _lv("Maxl", 20, _maxq_start(20), 0.0, np.zeros(20), maxl, maxl_jac),
    # Goffin: the minimum 0 is reached on the whole line x = c (1, ..., 1).
    _lv("Goffin", 22, np.arange(1, 51) - 25.5, 0.0, np.zeros(50), goffin, goffin_jac),
    _lv("MXHILB", 23, np.ones(50), 0.0, np.zeros(50), mxhilb, mxhilb_jac),
    _lv("L1HILB", 24, np.ones(50), 0.0, np.zeros(50), l1hilb, l1hilb_jac),
)}
"""``{name: NonsmoothProblem}``: the 16 convex problems of Lukšan & Vlček (2000), in their order."""

LARGE_SCALE = ("gen_maxq", "gen_mxhilb", "chained_lq", "chained_cb3_1", "chained_cb3_2")
"""Names accepted by `large_scale`."""


def large_scale(name, n):
    """Return a convex large-scale problem of Haarala, Miettinen & Mäkelä (2004) in n variables.

    ========================  ========================================  =================
    name                      x0                                        f*
    ========================  ========================================  =================
    ``"gen_maxq"``            x_i = i (i <= n // 2), x_i = -i after      0 at 0
    ``"gen_mxhilb"``          x_i = 1                                   0 at 0
    ``"chained_lq"``          x_i = -0.5                                -(n-1) sqrt(2) at
                                                                        x_i = 1/sqrt(2)
    ``"chained_cb3_1"``       x_i = 2                                   2 (n-1) at x_i = 1
    ``"chained_cb3_2"``       x_i = 2                                   2 (n-1) at x_i = 1
    ========================  ========================================  =================

    Parameters
    ----------
    name : str
        One of `LARGE_SCALE`.
    n : int
        Number of variables, at least 2.

    Returns
    -------
    NonsmoothProblem
        With fresh (writable) ``x0`` and ``xstar`` arrays.

    Raises
    ------
    ValueError
        For an unknown name or an n that is not an integer >= 2.
    """
    if name not in LARGE_SCALE:
        raise ValueError(f"name must be one of {', '.join(LARGE_SCALE)}, got {name!r}")
    if isinstance(n, bool) or not isinstance(n, Integral) or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n!r}")
    n = int(n)
    # Starting points: STARTX of TNSUNC (Haarala's Fortran, the test routines of LMBM).
    if name == "gen_maxq":
        x0, fstar, xstar, fun, jac, k = _maxq_start(n), 0.0, np.zeros(n), maxq, maxq_jac, 1
    elif name == "gen_mxhilb":
        x0, fstar, xstar, fun, jac, k = np.ones(n), 0.0, np.zeros(n), mxhilb, mxhilb_jac, 2
    elif name == "chained_lq":
        # each term is at least -sqrt(2) (the minimum of LQ), with equality at x_i = x_{i+1} = 1/sqrt(2)
        x0, fstar, xstar, fun, jac, k = (np.full(n, -0.5), -(n - 1) * math.sqrt(2.0), np.full(n, _S2),
                                         chained_lq, chained_lq_jac, 3)
    elif name == "chained_cb3_1":
        # each term is at least 2 (the minimum of CB3), with equality at x_i = x_{i+1} = 1
        x0, fstar, xstar, fun, jac, k = np.full(n, 2.0), 2.0 * (n - 1), np.ones(n), chained_cb3_1, chained_cb3_1_jac, 4
    else:
        # at x = 1 the three sums are equal, and the weights (2, 3, 1) / 6 of their gradients sum to 0
        x0, fstar, xstar, fun, jac, k = np.full(n, 2.0), 2.0 * (n - 1), np.ones(n), chained_cb3_2, chained_cb3_2_jac, 5
    return NonsmoothProblem(name, n, x0, float(fstar), xstar, fun, jac, f"{_HMM}, TNSUNC no. {k}")


def relative_error(problem, f, f0=None):
    """Relative error ``(f - f*) / (f(x0) - f*)``: 1 at the start, 0 at the optimum.

    Parameters
    ----------
    problem : NonsmoothProblem
    f : float or array_like
        Function value(s), e.g. the best value found so far at each iteration.
    f0 : float, optional
        ``f(x0)``; computed with ``problem.fun`` when not given.

    Returns
    -------
    float or ndarray
        A float for a scalar ``f``, else an array of the shape of ``f``. Slightly negative
        values are possible where ``fstar`` is a rounded published value (CB2, Shor,
        Maxquad: by at most half a unit of its last digit).
    """
    if f0 is None:
        f0 = problem.fun(np.array(problem.x0, dtype=np.float64))
    r = (np.asarray(f, dtype=np.float64) - problem.fstar) / (float(f0) - problem.fstar)
    return float(r) if r.ndim == 0 else r
