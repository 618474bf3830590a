"""Losses: values against direct formulas, gradients against finite differences."""
import numpy as np
import pytest

from nagd.nn import mean_distance, mse, numerical_gradient, rel_error


@pytest.mark.parametrize("loss", [mse, mean_distance])
def test_loss_gradient_matches_numerical(rng, loss):
    pred, target = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    _, dpred = loss(pred, target)
    num = numerical_gradient(lambda _: loss(pred, target)[0], pred)
    assert rel_error(dpred, num) < 1e-7


def test_values_match_direct_formulas(rng):
    pred, target = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    assert mse(pred, target)[0] == pytest.approx(sum(((p - t) ** 2).sum() for p, t in zip(pred, target)) / 15)
    expected = np.mean([np.sqrt(((p - t) ** 2).sum()) for p, t in zip(pred, target)])
    assert mean_distance(pred, target)[0] == pytest.approx(expected, rel=1e-14)


def test_mean_distance_zero_row_has_zero_gradient_not_nan():
    pred = np.array([[1.0, 2.0], [3.0, 4.0]])
    target = np.array([[1.0, 2.0], [0.0, 0.0]])
    value, dpred = mean_distance(pred, target)
    assert value == pytest.approx(2.5)
    assert np.all(np.isfinite(dpred))
    np.testing.assert_array_equal(dpred[0], 0.0)
    np.testing.assert_allclose(dpred[1], [0.3, 0.4])


@pytest.mark.parametrize("loss", [mse, mean_distance])
def test_float32_keeps_dtype(rng, loss):
    pred, target = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    value32, d32 = loss(pred.astype(np.float32), target.astype(np.float32))
    value64, d64 = loss(pred, target)
    assert d32.dtype == np.float32 and isinstance(value32, float)
    assert value32 == pytest.approx(value64, rel=1e-6)
    np.testing.assert_allclose(d32, d64, rtol=1e-5)


def test_bad_input_raises():
    with pytest.raises(ValueError, match="target must have the shape of pred"):
        mse(np.ones((2, 3)), np.ones((3, 2)))
    with pytest.raises(TypeError, match="pred must be float32 or float64"):
        mse(np.ones((2, 3), dtype=int), np.ones((2, 3)))
    with pytest.raises(ValueError, match="pred must be 2-D"):
        mean_distance(np.ones(3), np.ones(3))


def test_numerical_gradient_and_rel_error_on_a_known_function(rng):
    x = rng.standard_normal(5)
    np.testing.assert_allclose(numerical_gradient(lambda v: np.sum(v ** 3), x), 3 * x ** 2, rtol=1e-8)
    assert rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0.0
    assert rel_error(np.array([1.0]), np.array([3.0])) == pytest.approx(0.5)
