"""Test functions: values at known points, gradients against finite differences, dtypes."""
import numpy as np
import pytest
from scipy.optimize import check_grad, minimize, rosen, rosen_der

from nagd import problems
from nagd.problems import PROBLEMS

NAMES = list(PROBLEMS)


def central_difference(fun, x, h=1e-6):
    """Central-difference gradient (error O(h^2)), float64."""
    g = np.empty_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (fun(x + e) - fun(x - e)) / (2 * h)
    return g


def rel_error(a, b):
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


def _random_points(rng, dim, n=5):
    return [rng.uniform(-2.0, 2.0, size=dim) for _ in range(n)]


@pytest.mark.parametrize("name", NAMES)
def test_gradient_matches_finite_differences(rng, name):
    p = PROBLEMS[name]
    for x in _random_points(rng, len(p.x0)):
        # forward differences with scipy's default step sqrt(eps): error ~ 1e-8 * |f''| * |x|
        err = check_grad(p.fun, p.grad, x)
        scale = max(1.0, float(np.linalg.norm(p.grad(x))))
        assert err / scale < 1e-5, (name, x, err)
        assert rel_error(p.grad(x), central_difference(p.fun, x)) < 1e-7, (name, x)


@pytest.mark.parametrize("dim", [2, 3, 7])
def test_rosenbrock_nd_gradient_and_scipy_agree(rng, dim):
    for x in _random_points(rng, dim):
        err = check_grad(problems.rosenbrock_nd, problems.rosenbrock_nd_grad, x)
        assert err / np.linalg.norm(rosen_der(x)) < 1e-5
        assert rel_error(problems.rosenbrock_nd_grad(x), central_difference(problems.rosenbrock_nd, x)) < 1e-7
        np.testing.assert_allclose(problems.rosenbrock_nd(x), rosen(x), rtol=1e-13)
        np.testing.assert_allclose(problems.rosenbrock_nd_grad(x), rosen_der(x), rtol=1e-12, atol=1e-12)
    x = rng.uniform(-2, 2, size=2)
    assert problems.rosenbrock(x) == pytest.approx(problems.rosenbrock_nd(x), rel=1e-15)
    np.testing.assert_allclose(problems.rosenbrock_grad(x), problems.rosenbrock_nd_grad(x), rtol=1e-14)


def test_styblinski_tang_any_dimension(rng):
    for dim in (1, 3, 5):
        x = rng.uniform(-4, 4, size=dim)
        err = check_grad(problems.styblinski_tang, problems.styblinski_tang_grad, x)
        assert err / max(1.0, np.linalg.norm(problems.styblinski_tang_grad(x))) < 1e-5
        xs = np.full(dim, -2.903534027771178)
        assert problems.styblinski_tang(xs) == pytest.approx(-39.16616570377142 * dim, rel=1e-14)


def test_quadratic_formula(rng):
    x = rng.standard_normal(2)
    assert problems.quadratic(x) == pytest.approx(8 * x[0] ** 2 + 0.5 * x[1] ** 2, rel=1e-15)
    np.testing.assert_array_equal(problems.quadratic_grad(x), [16 * x[0], x[1]])


@pytest.mark.parametrize("name", NAMES)
def test_known_minima(name):
    p = PROBLEMS[name]
    for xm in p.minimizers:
        xm = np.array(xm)
        assert p.fun(xm) == pytest.approx(p.minimum, abs=1e-12)
        assert np.linalg.norm(p.grad(xm)) < 1e-7
    # and it is a minimum: a BFGS run from the usual start gets no lower
    res = minimize(p.fun, np.array(p.x0), jac=p.grad, method="BFGS")
    assert res.fun >= p.minimum - 1e-9


def test_a_minimum_is_not_zero():
    assert PROBLEMS["goldstein_price"].minimum == 3.0
    assert PROBLEMS["styblinski_tang"].minimum < 0


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept_and_float32_matches_float64_loosely(rng, name, dtype):
    p = PROBLEMS[name]
    x = rng.uniform(-1, 1, size=len(p.x0)).astype(dtype)
    g = p.grad(x)
    assert g.dtype == dtype and g.shape == x.shape
    f = p.fun(x)
    assert isinstance(f, float)
    x64 = x.astype(np.float64)
    rtol = 1e-5 if dtype == np.float32 else 0.0
    assert f == pytest.approx(p.fun(x64), rel=rtol, abs=1e-5 * rtol)
    np.testing.assert_allclose(g, p.grad(x64), rtol=rtol, atol=1e-4 * rtol)


def test_float32_arithmetic_is_float32_throughout():
    # the same formula evaluated by NumPy in float32, operation by operation
    x = np.array([-2.7182817, -3.1415927], dtype=np.float32)
    a, b = x
    one, c100, c2, c400, c200 = (np.float32(v) for v in (1, 100, 2, 400, 200))
    f32 = (one - a) * (one - a) + c100 * (b - a * a) * (b - a * a)
    g32 = [-c2 * (one - a) - c400 * a * (b - a * a), c200 * (b - a * a)]
    assert problems.rosenbrock(x) == float(f32)
    np.testing.assert_array_equal(problems.rosenbrock_grad(x), np.array(g32, dtype=np.float32))
    assert problems.rosenbrock(x) != problems.rosenbrock(x.astype(np.float64))


@pytest.mark.parametrize("name", NAMES)
def test_dispatchers_match_the_functions(rng, name):
    p = PROBLEMS[name]
    x = rng.uniform(-1, 1, size=len(p.x0))
    assert problems.value(p.pid, x) == p.fun(x)
    np.testing.assert_array_equal(problems.gradient(p.pid, x), p.grad(x))


def test_unknown_problem_and_id():
    with pytest.raises(ValueError, match="problem must be one of quadratic, rosenbrock"):
        problems.get("nope")
    assert np.isnan(problems.value(99, np.zeros(2)))
    assert np.isnan(problems.gradient(99, np.zeros(2))).all()
