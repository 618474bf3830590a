"""The Lukšan-Vlček problems of fixed dimension (2 to 10 variables): value and one subgradient."""
import math

import numpy as np
from numba import njit


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
