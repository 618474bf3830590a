"""A random convex feasibility problem: the largest violation of half-spaces and balls (f* = 0)."""
import numpy as np


def feasibility(n, n_planes, n_balls, rng, gap=(0.05, 0.5), slack=0.05):
    """Half-spaces ``A x <= b`` and balls ``|x - c_j| <= r_j`` that all contain the point x = 0.5.

    Finding a point that satisfies them is minimizing the largest violation
    ``f(x) = max(0, max_i v_i(x))``, a convex nonsmooth function whose optimal value is known:
    ``f* = 0``. A plain-NumPy problem (not compiled), float64.

    Parameters
    ----------
    n, n_planes, n_balls : int
        The dimension and the number of half-spaces and of balls.
    rng : numpy.random.Generator
        Draws, in this order, ``A`` (standard normal, ``(n_planes, n)``), the half-spaces'
        margins at x = 0.5 (uniform in ``gap``) and the balls' centres (0.5 plus standard normal).
    gap : (float, float), default (0.05, 0.5)
        The range of ``b - A p`` at the common point p = 0.5.
    slack : float, default 0.05
        How far p lies inside each ball: ``r_j = |c_j - p| + slack``.

    Returns
    -------
    fun : callable
        ``fun(x) -> float``: the largest violation, 0 on the feasible set.
    jac : callable
        ``jac(x) -> ndarray``: a subgradient, the normal of the most violated half-space or
        the unit vector from a ball's centre (the first such constraint), 0 where x is feasible.
    violations : callable
        ``violations(x) -> ndarray``: ``A x - b`` followed by ``|x - c_j| - r_j``.
    """
    p = np.full(n, 0.5)
    A = rng.standard_normal((n_planes, n))
    b = A @ p + rng.uniform(gap[0], gap[1], n_planes)
    centres = p + rng.standard_normal((n_balls, n))
    radii = np.linalg.norm(centres - p, axis=1) + slack

    def violations(x):
        return np.r_[A @ x - b, np.linalg.norm(x - centres, axis=1) - radii]

    def fun(x):
        return float(max(0.0, violations(x).max()))

    def jac(x):
        v = violations(x)
        i = int(np.argmax(v))
        if v[i] <= 0.0:
            return np.zeros(n)                   # feasible: 0 is a subgradient of max(0, ...)
        if i < n_planes:
            return A[i].copy()
        d = x - centres[i - n_planes]
        return d / np.linalg.norm(d)

    return fun, jac, violations
