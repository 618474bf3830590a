"""Nonsmooth test set: dimensions, starts and optima as published, subgradients against finite differences."""
import math

import numpy as np
import pytest

import nagd
from nagd.nonsmooth import LARGE_SCALE, LUKSAN_VLCEK, NonsmoothProblem, large_scale, relative_error

# name: (n, f*) as published by Lukšan & Vlček (2000); LQ's -1.4142136 is -sqrt(2) rounded.
PUBLISHED = {
    "CB2": (2, 1.9522245), "CB3": (2, 2.0), "DEM": (2, -3.0), "QL": (2, 7.2), "LQ": (2, -1.4142136),
    "Mifflin1": (2, -1.0), "Mifflin2": (2, -1.0), "Wolfe": (2, -8.0), "Rosen-Suzuki": (4, -44.0),
    "Shor": (5, 22.600162), "Maxquad": (10, -0.8414083), "Maxq": (20, 0.0), "Maxl": (20, 0.0),
    "Goffin": (50, 0.0), "MXHILB": (50, 0.0), "L1HILB": (50, 0.0),
}

# Decimals of the rounded published optima; the others are exact.
ROUNDED = {"CB2": 7, "Shor": 6, "Maxquad": 7}

_H50 = sum(1.0 / k for k in range(1, 51))                              # MXHILB at x = 1: its first row
_L1HILB0 = sum(min(k, 100 - k) / k for k in range(1, 100))             # L1HILB at x = 1: all of H_50

# f(x0), worked out by hand from the formulas at the published starts (Maxquad: as in OpenOpt's runs).
START_VALUES = {
    "CB2": 5.41, "CB3": 20.0, "DEM": 6.0, "QL": 56.0, "LQ": 1.0, "Mifflin1": -0.8, "Mifflin2": 4.75,
    "Wolfe": 5 * math.sqrt(145.0), "Rosen-Suzuki": 0.0, "Shor": 80.0, "Maxquad": 5337.0664293,
    "Maxq": 400.0, "Maxl": 20.0, "Goffin": 1225.0, "MXHILB": _H50, "L1HILB": _L1HILB0,
}

SIZES = (10, 50)
ALL = [(name, None) for name in LUKSAN_VLCEK] + [(name, n) for name in LARGE_SCALE for n in SIZES]


def get(name, n):
    return LUKSAN_VLCEK[name] if n is None else large_scale(name, n)


def ftol(p):
    """How close f(xstar) is to the published f*: half a unit of its last digit, or rounding only."""
    if p.name in ROUNDED:
        return 0.5 * 10.0 ** -ROUNDED[p.name]
    return 1e-12 * max(1.0, abs(p.fstar))


def central_difference(fun, x, h):
    g = np.empty_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h[i]
        g[i] = (fun(x + e) - fun(x - e)) / (2.0 * h[i])
    return g


def ident(case):
    name, n = case
    return name if n is None else f"{name}-{n}"


def test_the_set_and_its_dimensions_and_optima_are_as_published():
    assert list(LUKSAN_VLCEK) == list(PUBLISHED)
    for name, (n, fstar) in PUBLISHED.items():
        p = LUKSAN_VLCEK[name]
        assert isinstance(p, NonsmoothProblem) and p.name == name
        assert p.n == n == p.x0.shape[0] == p.xstar.shape[0]
        assert p.x0.dtype == p.xstar.dtype == np.float64
        assert p.fstar == pytest.approx(fstar, abs=0.5e-7), name
        assert "Lukšan" in p.source
    assert LUKSAN_VLCEK["LQ"].fstar == -math.sqrt(2.0)


def test_shared_arrays_are_read_only():
    p = LUKSAN_VLCEK["CB2"]
    with pytest.raises(ValueError):
        p.x0[0] = 0.0
    with pytest.raises(ValueError):
        p.xstar[0] = 0.0


@pytest.mark.parametrize("name", list(LUKSAN_VLCEK))
def test_luksan_vlcek_start(name):
    p = LUKSAN_VLCEK[name]
    f0 = p.fun(np.array(p.x0))
    assert isinstance(f0, float) and math.isfinite(f0)
    assert f0 == pytest.approx(START_VALUES[name], rel=1e-9, abs=1e-12)
    assert f0 > p.fstar


@pytest.mark.parametrize("n", [2, 3, 10, 11, 50])
def test_large_scale_dimensions_starts_and_optima(n):
    s2 = math.sqrt(2.0)
    expected = {                                       # name: (f(x0), f*, x0[0], x0[-1])
        "gen_maxq": (float(n * n), 0.0, 1.0, -float(n)),
        "gen_mxhilb": (sum(1.0 / k for k in range(1, n + 1)), 0.0, 1.0, 1.0),
        "chained_lq": (n - 1.0, -(n - 1) * s2, -0.5, -0.5),
        "chained_cb3_1": (20.0 * (n - 1), 2.0 * (n - 1), 2.0, 2.0),
        "chained_cb3_2": (20.0 * (n - 1), 2.0 * (n - 1), 2.0, 2.0),
    }
    for name in LARGE_SCALE:
        p = large_scale(name, n)
        f0, fstar, first, last = expected[name]
        assert p.name == name and p.n == n == p.x0.shape[0] == p.xstar.shape[0]
        assert (p.x0[0], p.x0[-1]) == (first, last)
        assert p.fstar == pytest.approx(fstar, rel=1e-15)
        assert p.fun(p.x0) == pytest.approx(f0, rel=1e-13)
        assert p.fun(p.xstar) == pytest.approx(p.fstar, rel=1e-13, abs=1e-13)
        assert "Haarala" in p.source
    # generalised MAXQ: x_i = i up to n // 2, then -i
    x0 = large_scale("gen_maxq", n).x0
    assert np.array_equal(np.abs(x0), np.arange(1, n + 1)) and np.sum(x0 > 0) == n // 2


def test_large_scale_generalises_the_small_problems(rng):
    for small, name in (("LQ", "chained_lq"), ("CB3", "chained_cb3_1"), ("CB3", "chained_cb3_2")):
        x = rng.normal(size=2)
        assert large_scale(name, 2).fun(x) == pytest.approx(LUKSAN_VLCEK[small].fun(x), rel=1e-15)
    for small, name in (("Maxq", "gen_maxq"), ("MXHILB", "gen_mxhilb")):
        p, q = LUKSAN_VLCEK[small], large_scale(name, LUKSAN_VLCEK[small].n)
        assert np.array_equal(p.x0, q.x0)
        x = rng.normal(size=p.n)
        assert p.fun(x) == q.fun(x)


@pytest.mark.parametrize("case", ALL, ids=ident)
def test_subgradient_is_the_gradient_where_differentiable(rng, case):
    """Central differences of step h ~ 1e-6 |x|: error ~ h^2 f''' + eps |f| / h, far below the tolerance."""
    p = get(*case)
    x0, xs = np.array(p.x0), np.array(p.xstar)
    scale = 0.05 * (1.0 + np.abs(x0))
    points = [x0 + scale * rng.normal(size=p.n) for _ in range(2)]
    points += [xs + 0.05 * rng.normal(size=p.n) for _ in range(2)]
    for x in points:
        g = p.jac(x)
        assert g.dtype == np.float64 and g.shape == (p.n,)
        h = 1e-6 * np.maximum(1.0, np.abs(x))
        fd = central_difference(p.fun, x, h)
        atol = 1e-7 * max(1.0, float(np.abs(g).max())) + 1e3 * np.finfo(float).eps * abs(p.fun(x)) / h.min()
        np.testing.assert_allclose(g, fd, rtol=1e-5, atol=atol, err_msg=f"{p.name} at {x}")


@pytest.mark.parametrize("case", ALL, ids=ident)
def test_subgradient_inequality_also_at_kinks(rng, case):
    """Convexity: f(y) >= f(x) + g(x)'(y - x) for the returned g, also at x* and x0 (often kinks)."""
    p = get(*case)
    x0, xs = np.array(p.x0), np.array(p.xstar)
    for x in (x0, xs, xs + 0.1 * rng.normal(size=p.n)):
        fx, g = p.fun(x), p.jac(x)
        for r in (1e-3, 0.1, 1.0):
            y = x + r * rng.normal(size=p.n)
            fy = p.fun(y)
            lin = fx + float(g @ (y - x))
            assert fy >= lin - 1e-10 * (1.0 + abs(fy) + abs(fx) + abs(lin)), (p.name, x, y)


def test_jac_returns_a_new_array_each_call():
    for p in (LUKSAN_VLCEK["Shor"], large_scale("chained_lq", 10)):
        x = np.array(p.x0)
        a, b = p.jac(x), p.jac(x)
        assert a is not b and not np.shares_memory(a, b) and not np.shares_memory(a, x)
        a[:] = np.nan
        assert np.all(np.isfinite(p.jac(x)))


@pytest.mark.parametrize("case", ALL, ids=ident)
def test_optimal_value_at_the_minimiser_and_a_lower_bound_nearby(rng, case):
    p = get(*case)
    xs = np.array(p.xstar)
    tol = ftol(p)
    assert abs(p.fun(xs) - p.fstar) <= tol, (p.name, p.fun(xs) - p.fstar)
    for r in (1e-6, 1e-3, 1e-1, 1.0):
        for _ in range(10):
            assert p.fun(xs + r * rng.normal(size=p.n)) >= p.fstar - tol, (p.name, r)


def test_minimisers_quoted_elsewhere_agree():
    """Approximate minimisers and optima from independent implementations, to their digits."""
    cb2, shor, maxquad = LUKSAN_VLCEK["CB2"], LUKSAN_VLCEK["Shor"], LUKSAN_VLCEK["Maxquad"]
    # CB2's often-quoted minimiser is 2.5e-4 off: within 2e-6 of f* only
    assert abs(cb2.fun(np.array([1.139286, 0.899365])) - cb2.fstar) < 2e-6
    # rHanso: fmin = 22.6001621 at (1.1243510, 0.9794616, 1.4777077, 0.9202335, 1.1242916)
    x = np.array([1.1243510, 0.9794616, 1.4777077, 0.9202335, 1.1242916])
    assert np.abs(x - shor.xstar).max() < 1e-7
    assert abs(shor.fun(x) - 22.6001621) < 1e-6
    assert abs(shor.fun(np.array(shor.xstar)) - 22.6001621) < 0.5e-7
    # OpenOpt: f* = -0.841408334596 at a 6-digit minimiser
    x = np.array([-1.26257e-1, -3.43781e-2, -6.85720e-3, 2.63607e-2, 6.72950e-2,
                  -2.78399e-1, 7.42187e-2, 1.38524e-1, 8.40313e-2, 3.85803e-2])
    assert np.abs(x - maxquad.xstar).max() < 1e-6
    assert abs(maxquad.fun(x) - maxquad.fstar) < 2e-5
    assert abs(maxquad.fun(np.array(maxquad.xstar)) - (-0.841408334596)) < 1e-12


def test_zero_is_a_subgradient_at_the_exact_minimisers():
    for name in ("Wolfe", "Maxq", "Maxl", "MXHILB", "L1HILB"):
        p = LUKSAN_VLCEK[name]
        assert np.all(p.jac(np.array(p.xstar)) == 0.0), name


def test_relative_error():
    p = LUKSAN_VLCEK["QL"]
    assert relative_error(p, 56.0) == 1.0
    assert relative_error(p, 7.2) == 0.0
    assert isinstance(relative_error(p, 31.6), float)
    assert relative_error(p, 31.6) == pytest.approx(0.5)
    r = relative_error(p, [56.0, 31.6, 7.2])
    assert isinstance(r, np.ndarray) and r == pytest.approx([1.0, 0.5, 0.0])
    assert relative_error(p, 7.2 + 1.0, f0=17.2) == pytest.approx(0.1)
    q = large_scale("chained_cb3_2", 10)
    assert relative_error(q, q.fun(q.x0)) == 1.0


@pytest.mark.parametrize("name, n, word", [
    ("nosuch", 10, "name"), (None, 10, "name"), ("gen_maxq", 1, "n"), ("gen_maxq", 0, "n"),
    ("chained_lq", 2.5, "n"), ("chained_lq", True, "n"), ("chained_lq", "10", "n"),
])
def test_large_scale_refuses_bad_arguments(name, n, word):
    with pytest.raises(ValueError, match=f"^{word} must be") as info:
        large_scale(name, n)
    assert "\n" not in str(info.value)


def test_large_scale_accepts_numpy_integers_and_gives_fresh_arrays():
    p = large_scale("gen_mxhilb", np.int64(12))
    assert p.n == 12 and isinstance(p.n, int)
    p.x0[0] = 5.0
    assert large_scale("gen_mxhilb", 12).x0[0] == 1.0


def test_lazy_submodule():
    assert nagd.nonsmooth.LUKSAN_VLCEK is LUKSAN_VLCEK
    assert "nonsmooth" in dir(nagd)


def test_feasibility_has_f_star_zero_at_the_common_point_and_subgradients_that_check():
    from nagd.nonsmooth import feasibility
    rng = np.random.default_rng(4)
    fun, jac, violations = feasibility(6, 8, 2, np.random.default_rng(1))
    assert fun(np.full(6, 0.5)) == 0.0 and np.all(violations(np.full(6, 0.5)) < 0)
    for _ in range(20):
        x = 0.5 + 3 * rng.standard_normal(6)
        v = np.sort(violations(x))
        assert fun(x) == max(0.0, v[-1])
        if v[-1] - v[-2] < 1e-3 or fun(x) == 0.0:
            continue                                     # near a kink: no derivative to compare
        h = 1e-7
        fd = np.array([(fun(x + h * e) - fun(x - h * e)) / (2 * h) for e in np.eye(6)])
        np.testing.assert_allclose(jac(x), fd, rtol=1e-5, atol=1e-6)
        y = 0.5 + 3 * rng.standard_normal(6)              # the subgradient inequality, convexity
        assert fun(y) >= fun(x) + jac(x) @ (y - x) - 1e-12
