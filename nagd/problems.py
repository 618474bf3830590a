"""Test functions with analytic gradients, compiled with Numba.

Every problem is a pair of ``@njit(cache=True)`` functions following the
``scipy.optimize.minimize`` convention, usable from Python, from
``scipy.optimize.minimize`` and from compiled loops (``nagd.minimize`` runs its
whole loop in compiled code when given them):

``fun(x) -> float``
    The value, computed in the dtype of ``x`` and returned as a float64.
``grad(x) -> ndarray``
    A new array of the shape and dtype of ``x``, computed in that dtype.

Arithmetic stays in ``x``'s dtype, as NumPy or PyTorch would do it: float32 input
means float32 rounding at every operation (this is what reproduces the paper's
float32 runs), float64 input means float64 throughout.

``x`` is a contiguous 1-D float32 or float64 array. `PROBLEMS` lists each problem
with a usual starting point, its global minimisers and its minimum value (some are
not 0, to exercise ``lower_bound``). `value` and `gradient` dispatch on a problem's
integer id (`Problem.pid`) inside compiled code; a loop written against them
compiles once and is cached on disk, which a loop taking the functions as arguments
is not.

Problems
--------
quadratic
    ``q(x, y) = 8 x^2 + y^2/2`` (the paper's section 2), minimum 0 at (0, 0).
rosenbrock
    ``r(x, y) = (1 - x)^2 + 100 (y - x^2)^2``, minimum 0 at (1, 1).
rosenbrock_nd
    ``sum_i 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2`` for n >= 2, minimum 0 at (1, ..., 1).
beale
    ``(1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2``, minimum 0 at (3, 0.5).
himmelblau
    ``(x^2 + y - 11)^2 + (x + y^2 - 7)^2``, minimum 0 at four points.
goldstein_price
    The Goldstein-Price function, minimum 3 at (0, -1).
styblinski_tang
    ``sum_i (x_i^4 - 16 x_i^2 + 5 x_i) / 2`` for n >= 1, minimum ``-39.16616570377142 n``
    at ``x_i = -2.903534027771178``.
"""
from typing import NamedTuple

import numpy as np
from numba import njit

__all__ = [
    "quadratic", "quadratic_grad", "rosenbrock", "rosenbrock_grad", "rosenbrock_nd", "rosenbrock_nd_grad",
    "beale", "beale_grad", "himmelblau", "himmelblau_grad", "goldstein_price", "goldstein_price_grad",
    "styblinski_tang", "styblinski_tang_grad", "value", "gradient", "Problem", "PROBLEMS", "get",
]


@njit(cache=True)
def quadratic(x):
    """q(x, y) = 8 x^2 + y^2 / 2."""
    T = x.dtype.type
    a = x[0]
    b = x[1]
    return np.float64(T(8.0) * a * a + T(0.5) * b * b)


@njit(cache=True)
def quadratic_grad(x):
    """grad q = (16 x, y)."""
    T = x.dtype.type
    g = np.empty_like(x)
    g[0] = T(16.0) * x[0]
    g[1] = x[1]
    return g


@njit(cache=True)
def rosenbrock(x):
    """r(x, y) = (1 - x)^2 + 100 (y - x^2)^2."""
    T = x.dtype.type
    a = x[0]
    u = T(1.0) - a
    v = x[1] - a * a
    return np.float64(u * u + T(100.0) * v * v)


@njit(cache=True)
def rosenbrock_grad(x):
    """grad r = (-2 (1 - x) - 400 x (y - x^2), 200 (y - x^2))."""
    T = x.dtype.type
    a = x[0]
    v = x[1] - a * a
    g = np.empty_like(x)
    g[0] = T(-2.0) * (T(1.0) - a) - T(400.0) * a * v
    g[1] = T(200.0) * v
    return g


@njit(cache=True)
def rosenbrock_nd(x):
    """sum_i 100 (x[i+1] - x[i]^2)^2 + (1 - x[i])^2."""
    T = x.dtype.type
    s = T(0.0)
    for i in range(x.shape[0] - 1):
        a = x[i]
        v = x[i + 1] - a * a
        u = T(1.0) - a
        s += T(100.0) * v * v + u * u
    return np.float64(s)


@njit(cache=True)
def rosenbrock_nd_grad(x):
    """Gradient of rosenbrock_nd."""
    T = x.dtype.type
    n = x.shape[0]
    g = np.empty_like(x)
    prev = T(0.0)                               # 200 (x[i] - x[i-1]^2): the term from the pair (i-1, i)
    for i in range(n):
        a = x[i]
        gi = prev
        if i < n - 1:
            v = x[i + 1] - a * a
            gi += T(-400.0) * a * v - T(2.0) * (T(1.0) - a)
            prev = T(200.0) * v
        g[i] = gi
    return g


@njit(cache=True)
def beale(x):
    """Beale: (1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2."""
    T = x.dtype.type
    a = x[0]
    b = x[1]
    t1 = T(1.5) - a + a * b
    t2 = T(2.25) - a + a * b * b
    t3 = T(2.625) - a + a * b * b * b
    return np.float64(t1 * t1 + t2 * t2 + t3 * t3)


@njit(cache=True)
def beale_grad(x):
    """Gradient of beale."""
    T = x.dtype.type
    a = x[0]
    b = x[1]
    one = T(1.0)
    t1 = T(1.5) - a + a * b
    t2 = T(2.25) - a + a * b * b
    t3 = T(2.625) - a + a * b * b * b
    g = np.empty_like(x)
    g[0] = T(2.0) * (t1 * (b - one) + t2 * (b * b - one) + t3 * (b * b * b - one))
    g[1] = T(2.0) * a * (t1 + T(2.0) * b * t2 + T(3.0) * b * b * t3)
    return g


@njit(cache=True)
def himmelblau(x):
    """Himmelblau: (x^2 + y - 11)^2 + (x + y^2 - 7)^2."""
    T = x.dtype.type
    a = x[0]
    b = x[1]
    u = a * a + b - T(11.0)
    v = a + b * b - T(7.0)
    return np.float64(u * u + v * v)


@njit(cache=True)
def himmelblau_grad(x):
    """Gradient of himmelblau."""
    T = x.dtype.type
    a = x[0]
    b = x[1]
    u = a * a + b - T(11.0)
    v = a + b * b - T(7.0)
    g = np.empty_like(x)
    g[0] = T(4.0) * a * u + T(2.0) * v
    g[1] = T(2.0) * u + T(4.0) * b * v
    return g


@njit(cache=True)
def _gp_parts(a, b, T):
    s = a + b + T(1.0)
    p = T(19.0) - T(14.0) * a + T(3.0) * a * a - T(14.0) * b + T(6.0) * a * b + T(3.0) * b * b
    t = T(2.0) * a - T(3.0) * b
    r = T(18.0) - T(32.0) * a + T(12.0) * a * a + T(48.0) * b - T(36.0) * a * b + T(27.0) * b * b
    return s, p, t, r


@njit(cache=True)
def goldstein_price(x):
    """Goldstein-Price: [1 + (x+y+1)^2 P] [30 + (2x-3y)^2 R]; minimum 3 at (0, -1)."""
    T = x.dtype.type
    s, p, t, r = _gp_parts(x[0], x[1], T)
    return np.float64((T(1.0) + s * s * p) * (T(30.0) + t * t * r))


@njit(cache=True)
def goldstein_price_grad(x):
    """Gradient of goldstein_price."""
    T = x.dtype.type
    a = x[0]
    b = x[1]
    s, p, t, r = _gp_parts(a, b, T)
    left = T(1.0) + s * s * p
    right = T(30.0) + t * t * r
    dp = T(-14.0) + T(6.0) * a + T(6.0) * b            # dP/da = dP/db
    dl = T(2.0) * s * p + s * s * dp                   # d left / da = d left / db
    dr_a = T(4.0) * t * r + t * t * (T(-32.0) + T(24.0) * a - T(36.0) * b)
    dr_b = T(-6.0) * t * r + t * t * (T(48.0) - T(36.0) * a + T(54.0) * b)
    g = np.empty_like(x)
    g[0] = dl * right + left * dr_a
    g[1] = dl * right + left * dr_b
    return g


@njit(cache=True)
def styblinski_tang(x):
    """Styblinski-Tang: sum_i (x_i^4 - 16 x_i^2 + 5 x_i) / 2."""
    T = x.dtype.type
    s = T(0.0)
    for i in range(x.shape[0]):
        a = x[i]
        a2 = a * a
        s += a2 * a2 - T(16.0) * a2 + T(5.0) * a
    return np.float64(T(0.5) * s)


@njit(cache=True)
def styblinski_tang_grad(x):
    """Gradient of styblinski_tang: (4 x_i^3 - 32 x_i + 5) / 2."""
    T = x.dtype.type
    g = np.empty_like(x)
    for i in range(x.shape[0]):
        a = x[i]
        g[i] = T(2.0) * a * a * a - T(16.0) * a + T(2.5)
    return g


# Problem ids for the compiled dispatchers (`value`, `gradient`): the order of _FUNCS.
QUADRATIC, ROSENBROCK, ROSENBROCK_ND, BEALE, HIMMELBLAU, GOLDSTEIN_PRICE, STYBLINSKI_TANG = range(7)


@njit(cache=True)
def value(pid, x):
    """f(x) of problem ``pid`` (a `Problem.pid`); NaN for an unknown id."""
    if pid == QUADRATIC:
        return quadratic(x)
    if pid == ROSENBROCK:
        return rosenbrock(x)
    if pid == ROSENBROCK_ND:
        return rosenbrock_nd(x)
    if pid == BEALE:
        return beale(x)
    if pid == HIMMELBLAU:
        return himmelblau(x)
    if pid == GOLDSTEIN_PRICE:
        return goldstein_price(x)
    if pid == STYBLINSKI_TANG:
        return styblinski_tang(x)
    return np.nan


@njit(cache=True)
def gradient(pid, x):
    """grad f(x) of problem ``pid``, in x's dtype; NaN-filled for an unknown id."""
    if pid == QUADRATIC:
        return quadratic_grad(x)
    if pid == ROSENBROCK:
        return rosenbrock_grad(x)
    if pid == ROSENBROCK_ND:
        return rosenbrock_nd_grad(x)
    if pid == BEALE:
        return beale_grad(x)
    if pid == HIMMELBLAU:
        return himmelblau_grad(x)
    if pid == GOLDSTEIN_PRICE:
        return goldstein_price_grad(x)
    if pid == STYBLINSKI_TANG:
        return styblinski_tang_grad(x)
    g = np.empty_like(x)
    g[:] = np.nan
    return g


class Problem(NamedTuple):
    """A test function with what is known about it.

    Attributes
    ----------
    name : str
    pid : int
        Id for the compiled dispatchers `value` and `gradient`.
    fun, grad : Numba functions
        ``fun(x) -> float``, ``grad(x) -> ndarray`` like ``x``.
    x0 : tuple of float
        The usual starting point (for N-D problems: of the default dimension).
    minimizers : tuple of tuple of float
        The global minimisers (exact, or to about 15 digits where irrational).
    minimum : float
        The global minimum value: the ``lower_bound`` that NaGD needs.
    """

    name: str
    pid: int
    fun: object
    grad: object
    x0: tuple
    minimizers: tuple
    minimum: float


_ST_X = -2.903534027771178
_ST_MIN = -39.16616570377142

PROBLEMS = {
    p.name: p for p in (
        Problem("quadratic", QUADRATIC, quadratic, quadratic_grad, (1.0, 1.0), ((0.0, 0.0),), 0.0),
        Problem("rosenbrock", ROSENBROCK, rosenbrock, rosenbrock_grad, (-3.0, -4.0), ((1.0, 1.0),), 0.0),
        Problem("rosenbrock_nd", ROSENBROCK_ND, rosenbrock_nd, rosenbrock_nd_grad, (-1.2, 1.0, -1.2, 1.0),
                ((1.0, 1.0, 1.0, 1.0),), 0.0),
        Problem("beale", BEALE, beale, beale_grad, (1.0, 1.0), ((3.0, 0.5),), 0.0),
        Problem("himmelblau", HIMMELBLAU, himmelblau, himmelblau_grad, (0.0, 0.0),
                ((3.0, 2.0), (-2.805118086952745, 3.131312518250573),
                 (-3.779310253377747, -3.283185991286170), (3.584428340330492, -1.848126526964404)), 0.0),
        Problem("goldstein_price", GOLDSTEIN_PRICE, goldstein_price, goldstein_price_grad, (0.5, -0.5),
                ((0.0, -1.0),), 3.0),
        Problem("styblinski_tang", STYBLINSKI_TANG, styblinski_tang, styblinski_tang_grad, (-1.0, -1.0),
                ((_ST_X, _ST_X),), 2 * _ST_MIN),
    )
}
"""``{name: Problem}``; N-D problems are listed at their default dimension (4 and 2)."""


def get(name):
    """Return `PROBLEMS[name]`.

    Parameters
    ----------
    name : str
        A key of `PROBLEMS`.

    Returns
    -------
    Problem

    Raises
    ------
    ValueError
        For an unknown name (the message lists the known ones).
    """
    try:
        return PROBLEMS[name]
    except (KeyError, TypeError):
        raise ValueError(f"problem must be one of {', '.join(PROBLEMS)}, got {name!r}") from None
