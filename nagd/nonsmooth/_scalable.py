"""The problems of any dimension: Maxq, Maxl, Goffin, MXHILB, L1HILB and the chained large-scale ones."""
import math

import numpy as np
from numba import njit


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
