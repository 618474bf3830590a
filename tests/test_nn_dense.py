"""Dense / Tanh / ReLU layers: finite-difference gradient checks, dtypes, the flat-buffer model."""
import numpy as np
import pytest

from nagd.nn import Dense, ReLU, Sequential, Tanh, mse, numerical_gradient, rel_error
from nagd.nn.layers import dense_backward, dense_forward, relu_backward, relu_forward, tanh_backward, tanh_forward
from nagd.optim import SGD, NaGD


@pytest.mark.parametrize("activation", ["identity", "tanh", "relu"])
@pytest.mark.parametrize("n, d, m", [(1, 3, 2), (4, 5, 3)])
def test_dense_backward_matches_numerical(rng, activation, n, d, m):
    x, W, b = rng.standard_normal((n, d)), rng.standard_normal((d, m)), rng.standard_normal(m)
    out, cache = dense_forward(x, W, b, activation)
    dout = rng.standard_normal(out.shape)
    for grad, arg in zip(dense_backward(dout, cache), (x, W, b)):
        num = numerical_gradient(lambda _: dense_forward(x, W, b, activation)[0], arg, dout)
        assert rel_error(grad, num) < 1e-7


@pytest.mark.parametrize("forward, backward", [(tanh_forward, tanh_backward), (relu_forward, relu_backward)])
def test_activation_backward_matches_numerical(rng, forward, backward):
    x = rng.standard_normal((3, 4))
    out, cache = forward(x)
    dout = rng.standard_normal(out.shape)
    num = numerical_gradient(lambda _: forward(x)[0], x, dout)
    assert rel_error(backward(dout, cache), num) < 1e-7


def test_forward_values_match_numpy(rng):
    x, W, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 2)), rng.standard_normal(2)
    np.testing.assert_allclose(dense_forward(x, W, b, "tanh")[0], np.tanh(x @ W + b), rtol=1e-15)
    np.testing.assert_allclose(dense_forward(x, W, b, "relu")[0], np.maximum(x @ W + b, 0.0), rtol=1e-15)
    np.testing.assert_array_equal(dense_forward(x, W, b)[0], x @ W + b)


def _model(dtype, seed=0):
    return Sequential([Dense(5, "tanh"), Dense(3, "relu"), Dense(2), Tanh(), ReLU()], (4,), dtype=dtype, seed=seed)


def test_model_gradient_through_flat_buffer_matches_numerical(rng):
    model = _model(np.float64)
    x, y = rng.uniform(size=(6, 4)), rng.uniform(size=(6, 2))
    model.loss_and_grad(x, y, mse)
    num = numerical_gradient(lambda _: mse(model.forward(x), y)[0], model.params)
    assert rel_error(model.grads, num) < 1e-7


def test_layers_hold_views_into_the_flat_buffers():
    model = _model(np.float64)
    first = model.layers[0]
    assert np.shares_memory(first.params["W"], model.params)
    assert np.shares_memory(first.grads["b"], model.grads)
    assert model.n_params == 4 * 5 + 5 + 5 * 3 + 3 + 3 * 2 + 2
    model.params[0] = 123.0
    assert first.params["W"][0, 0] == 123.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept_and_float32_matches_float64_loosely(rng, dtype):
    x, y = rng.uniform(size=(6, 4)), rng.uniform(size=(6, 2))
    model, ref = _model(dtype), _model(np.float64)
    np.testing.assert_allclose(model.params, ref.params, rtol=1e-6)
    out = model.forward(x)
    loss = model.loss_and_grad(x, y, mse)
    assert out.dtype == dtype and model.grads.dtype == dtype and model.params.dtype == dtype
    np.testing.assert_allclose(out, ref.forward(x), rtol=1e-5, atol=1e-6)
    assert loss == pytest.approx(ref.loss_and_grad(x, y, mse), rel=1e-5)
    np.testing.assert_allclose(model.grads, ref.grads, rtol=1e-4, atol=1e-6)


def test_init_is_seeded_and_in_bounds():
    a, b, c = (Sequential([Dense(4, "tanh")], (10,), seed=s) for s in (1, 1, 2))
    np.testing.assert_array_equal(a.params, b.params)
    assert not np.array_equal(a.params, c.params)
    assert np.all(np.abs(a.params) <= 1 / np.sqrt(10))
    g = Sequential([Dense(4, init="glorot")], (10,), seed=1)
    assert np.all(g.layers[0].params["b"] == 0.0)
    assert np.all(np.abs(g.params) <= np.sqrt(6 / 14))


@pytest.mark.parametrize("optimizer", [NaGD(alpha=0.5), SGD(lr=0.1)])
def test_a_few_steps_lower_the_loss(rng, optimizer):
    model = Sequential([Dense(8, "tanh"), Dense(2)], (3,), seed=0)
    x = rng.uniform(size=(20, 3))
    y = np.stack([np.sin(x.sum(axis=1)), x[:, 0] * x[:, 1]], axis=1)
    first = model.loss_and_grad(x, y, mse)
    for _ in range(20):
        optimizer.step(model.params, model.grads, model.loss_and_grad(x, y, mse))
    assert model.loss_and_grad(x, y, mse) < 0.5 * first


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="units must be a positive integer"):
        Dense(0)
    with pytest.raises(ValueError, match="activation must be one of"):
        Dense(3, activation="sigmoid")
    with pytest.raises(ValueError, match="init must be one of"):
        Dense(3, init="normal")
    with pytest.raises(ValueError, match="Dense needs a flat input shape"):
        Sequential([Dense(3)], (2, 2))
    with pytest.raises(ValueError, match="dense_forward needs"):
        dense_forward(np.ones((2, 3)), np.ones((4, 2)), np.ones(2))
    with pytest.raises(ValueError, match="x must have shape"):
        Sequential([Dense(3)], (4,)).forward(np.ones((2, 5)))


@pytest.mark.parametrize("small_size", [0, 10**9], ids=["blas", "compiled"])
@pytest.mark.parametrize("activation", ["identity", "tanh", "relu"])
def test_both_dense_paths_match_finite_differences(rng, monkeypatch, small_size, activation):
    # small batches run one compiled call each way, large ones BLAS: check each path on its own
    monkeypatch.setattr(Dense, "small_size", small_size)
    model = Sequential([Dense(5, activation), Dense(3, "tanh"), Dense(2)], (4,), seed=1)
    x, y = rng.uniform(size=(7, 4)), rng.uniform(size=(7, 2))
    model.loss_and_grad(x, y, mse)
    num = numerical_gradient(lambda _: mse(model.forward(x), y)[0], model.params)
    # central differences with h = 1e-6 on a loss of about 0.1: an absolute error near 1e-11, so
    # relative to each entry (the smallest here about 1e-4 of the largest) at most a few 1e-7
    assert np.max(np.abs(model.grads - num)) < 1e-8 * np.max(np.abs(num))
    assert rel_error(model.grads, num) < 1e-6


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_and_blas_dense_paths_agree(rng, monkeypatch, dtype):
    x, y = rng.uniform(size=(9, 4)), rng.uniform(size=(9, 2))
    results = []
    for small_size in (0, 10**9):
        monkeypatch.setattr(Dense, "small_size", small_size)
        model = _model(dtype, seed=3)
        out = model.forward(x)
        loss = model.loss_and_grad(x, y, mse)
        dx = model.backward(mse(model.forward(x), y)[1])
        assert out.dtype == dx.dtype == dtype
        results.append((out, loss, model.grads.copy(), dx))
    # same formulas, different summation order (float64 loops against BLAS in the dtype):
    # a few roundings of the dtype on sums of 4-5 terms of size O(1)
    eps = float(np.finfo(dtype).eps)
    (o0, l0, g0, d0), (o1, l1, g1, d1) = results
    np.testing.assert_allclose(o0, o1, rtol=0, atol=64 * eps)
    assert l0 == pytest.approx(l1, rel=64 * eps)
    np.testing.assert_allclose(g0, g1, rtol=0, atol=64 * eps)
    np.testing.assert_allclose(d0, d1, rtol=0, atol=64 * eps)


def test_dense_backward_before_forward_raises():
    model = Sequential([Dense(3)], (2,))
    with pytest.raises(RuntimeError, match="backward before forward"):
        model.layers[0].backward(np.ones((1, 3)))
