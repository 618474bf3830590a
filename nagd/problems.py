"""Test functions with analytic gradients, compiled with Numba.

Every problem is a pair of ``@njit(cache=True)`` functions following the
``scipy.optimize.minimize`` convention, usable from Python, from
``scipy.optimize.minimize`` and from compiled loops (``nagd.minimize`` runs its
whole loop in compiled code when given them):

``fun(x) -> float``
    The value, computed in float64 whatever the dtype of ``x``.
``grad(x) -> ndarray``
    A new array of the shape and dtype of ``x``: each entry is computed in float64
    from the entries of ``x`` and rounded to ``x``'s dtype once.

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
    """q(x, y) = 8 x^2 + y^2 / 2 (float64)."""
    a = np.float64(x[0])
    b = np.float64(x[1])
    return 8.0 * a * a + 0.5 * b * b


@njit(cache=True)
def quadratic_grad(x):
    """grad q = (16 x, y), in x's dtype."""
    g = np.empty_like(x)
    g[0] = 16.0 * np.float64(x[0])
    g[1] = np.float64(x[1])
    return g


@njit(cache=True)
def rosenbrock(x):
    """r(x, y) = (1 - x)^2 + 100 (y - x^2)^2 (float64)."""
    a = np.float64(x[0])
    b = np.float64(x[1])
    u = 1.0 - a
    v = b - a * a
    return u * u + 100.0 * v * v


@njit(cache=True)
def rosenbrock_grad(x):
    """grad r = (-2 (1 - x) - 400 x (y - x^2), 200 (y - x^2)), in x's dtype."""
    a = np.float64(x[0])
    b = np.float64(x[1])
    v = b - a * a
    g = np.empty_like(x)
    g[0] = -2.0 * (1.0 - a) - 400.0 * a * v
    g[1] = 200.0 * v
    return g


@njit(cache=True)
def rosenbrock_nd(x):
    """sum_i 100 (x[i+1] - x[i]^2)^2 + (1 - x[i])^2 (float64)."""
    s = 0.0
    for i in range(x.shape[0] - 1):
        a = np.float64(x[i])
        v = np.float64(x[i + 1]) - a * a
        u = 1.0 - a
        s += 100.0 * v * v + u * u
    return s


@njit(cache=True)
def rosenbrock_nd_grad(x):
    """Gradient of rosenbrock_nd, in x's dtype."""
    n = x.shape[0]
    g = np.empty_like(x)
    prev = 0.0                                  # 200 (x[i] - x[i-1]^2): the term from the pair (i-1, i)
    for i in range(n):
        a = np.float64(x[i])
        gi = prev
        if i < n - 1:
            v = np.float64(x[i + 1]) - a * a
            gi += -400.0 * a * v - 2.0 * (1.0 - a)
            prev = 200.0 * v
        g[i] = gi
    return g


@njit(cache=True)
def beale(x):
    """Beale: (1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2 (float64)."""
    a = np.float64(x[0])
    b = np.float64(x[1])
    t1 = 1.5 - a + a * b
    t2 = 2.25 - a + a * b * b
    t3 = 2.625 - a + a * b * b * b
    return t1 * t1 + t2 * t2 + t3 * t3


@njit(cache=True)
def beale_grad(x):
    """Gradient of beale, in x's dtype."""
    a = np.float64(x[0])
    b = np.float64(x[1])
    t1 = 1.5 - a + a * b
    t2 = 2.25 - a + a * b * b
    t3 = 2.625 - a + a * b * b * b
    g = np.empty_like(x)
    g[0] = 2.0 * (t1 * (b - 1.0) + t2 * (b * b - 1.0) + t3 * (b * b * b - 1.0))
    g[1] = 2.0 * a * (t1 + 2.0 * b * t2 + 3.0 * b * b * t3)
    return g


@njit(cache=True)
def himmelblau(x):
    """Himmelblau: (x^2 + y - 11)^2 + (x + y^2 - 7)^2 (float64)."""
    a = np.float64(x[0])
    b = np.float64(x[1])
    u = a * a + b - 11.0
    v = a + b * b - 7.0
    return u * u + v * v


@njit(cache=True)
def himmelblau_grad(x):
    """Gradient of himmelblau, in x's dtype."""
    a = np.float64(x[0])
    b = np.float64(x[1])
    u = a * a + b - 11.0
    v = a + b * b - 7.0
    g = np.empty_like(x)
    g[0] = 4.0 * a * u + 2.0 * v
    g[1] = 2.0 * u + 4.0 * b * v
    return g


@njit(cache=True)
def _gp_parts(a, b):
    s = a + b + 1.0
    p = 19.0 - 14.0 * a + 3.0 * a * a - 14.0 * b + 6.0 * a * b + 3.0 * b * b
    t = 2.0 * a - 3.0 * b
    r = 18.0 - 32.0 * a + 12.0 * a * a + 48.0 * b - 36.0 * a * b + 27.0 * b * b
    return s, p, t, r


@njit(cache=True)
def goldstein_price(x):
    """Goldstein-Price: [1 + (x+y+1)^2 P] [30 + (2x-3y)^2 R] (float64); minimum 3 at (0, -1)."""
    s, p, t, r = _gp_parts(np.float64(x[0]), np.float64(x[1]))
    return (1.0 + s * s * p) * (30.0 + t * t * r)


@njit(cache=True)
def goldstein_price_grad(x):
    """Gradient of goldstein_price, in x's dtype."""
    a = np.float64(x[0])
    b = np.float64(x[1])
    s, p, t, r = _gp_parts(a, b)
    left = 1.0 + s * s * p
    right = 30.0 + t * t * r
    # d/da and d/db of each factor
    dl_a = 2.0 * s * p + s * s * (-14.0 + 6.0 * a + 6.0 * b)
    dl_b = 2.0 * s * p + s * s * (-14.0 + 6.0 * a + 6.0 * b)
    dr_a = 4.0 * t * r + t * t * (-32.0 + 24.0 * a - 36.0 * b)
    dr_b = -6.0 * t * r + t * t * (48.0 - 36.0 * a + 54.0 * b)
    g = np.empty_like(x)
    g[0] = dl_a * right + left * dr_a
    g[1] = dl_b * right + left * dr_b
    return g


@njit(cache=True)
def styblinski_tang(x):
    """Styblinski-Tang: sum_i (x_i^4 - 16 x_i^2 + 5 x_i) / 2 (float64)."""
    s = 0.0
    for i in range(x.shape[0]):
        a = np.float64(x[i])
        a2 = a * a
        s += a2 * a2 - 16.0 * a2 + 5.0 * a
    return 0.5 * s


@njit(cache=True)
def styblinski_tang_grad(x):
    """Gradient of styblinski_tang: (4 x_i^3 - 32 x_i + 5) / 2, in x's dtype."""
    g = np.empty_like(x)
    for i in range(x.shape[0]):
        a = np.float64(x[i])
        g[i] = 2.0 * a * a * a - 16.0 * a + 2.5
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

    Raises
    ------
    ValueError
        For an unknown name (the message lists the known ones).
    """
    try:
        return PROBLEMS[name]
    except (KeyError, TypeError):
        raise ValueError(f"problem must be one of {', '.join(PROBLEMS)}, got {name!r}") from None
