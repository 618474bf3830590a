"""Conv-net layers: Numba kernels against plain-loop references, finite-difference gradient checks,
dropout modes, the paper's MNIST network."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nagd.nn import (Conv2D, Dense, Dropout, Dropout2d, Flatten, MaxPool2D, ReLU, Sequential, numerical_gradient,
                     rel_error, softmax_cross_entropy)
from nagd.nn import conv_kernels as ck
from nagd.optim import SGD

from _networks import convnet


# ------------------------------------------------------------------------------------------------
# Slow plain-loop references (the oracles)


def conv_ref(x, w, b):
    n_b, n_c, h, wd = x.shape
    n_f, _, kh, kw = w.shape
    out = np.zeros((n_b, n_f, h - kh + 1, wd - kw + 1))
    for n in range(n_b):
        for f in range(n_f):
            for y in range(out.shape[2]):
                for x_ in range(out.shape[3]):
                    s = b[f]
                    for c in range(n_c):
                        for i in range(kh):
                            for j in range(kw):
                                s += w[f, c, i, j] * x[n, c, y + i, x_ + j]
                    out[n, f, y, x_] = s
    return out


def conv_backward_ref(dout, x, w):
    n_f, n_c, kh, kw = w.shape
    dx, dw, db = np.zeros(x.shape), np.zeros(w.shape), np.zeros(n_f)
    for n in range(x.shape[0]):
        for f in range(n_f):
            for y in range(dout.shape[2]):
                for x_ in range(dout.shape[3]):
                    g = dout[n, f, y, x_]
                    db[f] += g
                    for c in range(n_c):
                        for i in range(kh):
                            for j in range(kw):
                                dw[f, c, i, j] += g * x[n, c, y + i, x_ + j]
                                dx[n, c, y + i, x_ + j] += g * w[f, c, i, j]
    return dx, dw, db


def pool_ref(x, k):
    n_b, n_c, h, w = x.shape
    out = np.zeros((n_b, n_c, h // k, w // k))
    dmask = np.zeros(x.shape)
    for n in range(n_b):
        for c in range(n_c):
            for y in range(h // k):
                for x_ in range(w // k):
                    win = x[n, c, y * k:(y + 1) * k, x_ * k:(x_ + 1) * k]
                    out[n, c, y, x_] = win.max()
                    i, j = np.unravel_index(np.argmax(win), win.shape)
                    dmask[n, c, y * k + i, x_ * k + j] = 1.0
    return out, dmask


def _conv_layer(rng, dtype, n_c, hw, filters, kernel):
    layer = Conv2D(filters, kernel)
    model = Sequential([layer], (n_c, *hw), dtype=dtype, seed=rng)
    return model, layer


# ------------------------------------------------------------------------------------------------
# Kernels against the references


@pytest.mark.parametrize("n, c, hw, f, k", [(1, 1, (5, 5), 1, (3, 3)), (3, 2, (7, 6), 4, (3, 2)),
                                            (2, 3, (6, 6), 2, (1, 1)), (2, 2, (4, 5), 3, (4, 5))])
def test_conv_forward_and_backward_match_loops(rng, n, c, hw, f, k):
    model, layer = _conv_layer(rng, np.float64, c, hw, f, k)
    x = rng.standard_normal((n, c, *hw))
    out = model.forward(x)
    w, b = layer.params["W"], layer.params["b"]
    np.testing.assert_allclose(out, conv_ref(x, w, b), rtol=1e-12, atol=1e-12)
    dout = rng.standard_normal(out.shape)
    dx = model.backward(dout)
    dx_ref, dw_ref, db_ref = conv_backward_ref(dout, x, w)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.grads["W"], dw_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.grads["b"], db_ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("k, hw", [(2, (6, 8)), (3, (7, 6)), (2, (5, 5))])
def test_maxpool_forward_and_backward_match_loops(rng, k, hw):
    x = rng.standard_normal((2, 3, *hw))
    model = Sequential([MaxPool2D(k)], (3, *hw))
    out = model.forward(x)
    ref, dmask = pool_ref(x, k)
    np.testing.assert_array_equal(out, ref)
    dout = rng.standard_normal(out.shape)
    dx = model.backward(dout)
    if hw[0] % k == 0 and hw[1] % k == 0:
        np.testing.assert_array_equal(dx, dmask * np.kron(dout, np.ones((k, k))))
    # every window routes its gradient to exactly its maximum, the rest is zero
    assert np.count_nonzero(dx) == np.count_nonzero(dout)
    np.testing.assert_allclose(dx.sum(), dout.sum())
    np.testing.assert_array_equal(dx[dmask == 0], 0.0)


def test_im2col_col2im_are_adjoint(rng):
    x = rng.standard_normal((2, 3, 6, 5))
    kh, kw = 3, 2
    cols = np.empty((3 * kh * kw, 2 * 4 * 4))
    ck.im2col(x, kh, kw, cols)
    d = rng.standard_normal(cols.shape)
    dx = np.empty_like(x)
    ck.col2im(d, kh, kw, dx)
    np.testing.assert_allclose(np.sum(cols * d), np.sum(x * dx), rtol=1e-12)


# ------------------------------------------------------------------------------------------------
# Finite-difference gradient checks (float64, h = 1e-6)


@pytest.mark.parametrize("c, hw, f, k", [(1, (6, 6), 2, (3, 3)), (2, (5, 6), 3, (2, 3))])
def test_conv_gradients_match_numerical(rng, c, hw, f, k):
    model, layer = _conv_layer(rng, np.float64, c, hw, f, k)
    x = rng.standard_normal((2, c, *hw))
    out = model.forward(x)
    dout = rng.standard_normal(out.shape)
    dx = model.backward(dout)
    for grad, arg in ((dx, x), (layer.grads["W"], layer.params["W"]), (layer.grads["b"], layer.params["b"])):
        num = numerical_gradient(lambda _: model.forward(x), arg, dout)
        assert rel_error(grad, num) < 1e-6


def test_maxpool_gradient_matches_numerical(rng):
    x = rng.standard_normal((2, 2, 4, 6))  # continuous random values: no ties
    model = Sequential([MaxPool2D(2)], (2, 4, 6))
    dout = rng.standard_normal((2, 2, 2, 3))
    model.forward(x)
    dx = model.backward(dout)
    num = numerical_gradient(lambda _: model.forward(x), x, dout)
    assert rel_error(dx, num) < 1e-6


@pytest.mark.parametrize("layer, shape", [(Dropout(0.3), (4, 7)), (Dropout2d(0.4), (3, 5, 2, 2)),
                                          (Flatten(), (2, 3, 2, 2))])
def test_shape_and_dropout_layers_gradients_match_numerical(rng, layer, shape):
    model = Sequential([layer], shape[1:], seed=1)
    x = rng.standard_normal(shape)
    state = model.rng.bit_generator.state

    def f(_):
        model.rng.bit_generator.state = state  # the same mask for every evaluation
        return model.forward(x, train=True)

    out = f(x)
    dout = rng.standard_normal(out.shape)
    dx = model.backward(dout)
    num = numerical_gradient(f, x, dout)
    assert rel_error(dx, num) < 1e-7


@pytest.mark.parametrize("one_hot", [False, True])
def test_softmax_cross_entropy_gradient_and_value(rng, one_hot):
    pred = rng.standard_normal((5, 4)) * 3.0
    labels = rng.integers(0, 4, size=5)
    target = np.eye(4)[labels] if one_hot else labels
    value, dpred = softmax_cross_entropy(pred, target)
    p = np.exp(pred) / np.exp(pred).sum(axis=1, keepdims=True)
    assert value == pytest.approx(-np.mean(np.log(p[np.arange(5), labels])), rel=1e-12)
    num = numerical_gradient(lambda _: softmax_cross_entropy(pred, target)[0], pred)
    assert rel_error(dpred, num) < 1e-7


def test_softmax_cross_entropy_is_stable_and_checks_input():
    value, d = softmax_cross_entropy(np.array([[1000.0, 0.0], [0.0, -1000.0]]), np.array([0, 1]))
    assert np.isfinite(value) and np.all(np.isfinite(d))
    assert value == pytest.approx(500.0)
    with pytest.raises(ValueError, match="labels must be in"):
        softmax_cross_entropy(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match="target must have shape"):
        softmax_cross_entropy(np.zeros((2, 3)), np.zeros((2, 2)))
    with pytest.raises(TypeError, match="pred must be float32 or float64"):
        softmax_cross_entropy(np.zeros((2, 3), dtype=int), np.array([0, 1]))
    with pytest.raises(TypeError, match="labels must be integers"):
        softmax_cross_entropy(np.zeros((2, 3)), np.array([0.0, 1.0]))


def _small_net(dtype, seed=0, input_grad=True):
    return Sequential([Conv2D(3, 3, input_grad=input_grad), MaxPool2D(2), ReLU(), Conv2D(4, 2), Dropout2d(0.5),
                       ReLU(), Flatten(), Dense(5), ReLU(), Dropout(0.5), Dense(3)], (2, 8, 8), dtype=dtype,
                      seed=seed)


def test_whole_conv_net_gradient_matches_numerical(rng):
    model = _small_net(np.float64)
    x, y = rng.standard_normal((3, 2, 8, 8)), rng.integers(0, 3, size=3)
    state = model.rng.bit_generator.state

    def loss(_):
        model.rng.bit_generator.state = state  # same dropout masks each time
        return softmax_cross_entropy(model.forward(x, train=True), y)[0]

    model.rng.bit_generator.state = state
    model.loss_and_grad(x, y, softmax_cross_entropy, train=True)
    num = numerical_gradient(loss, model.params)
    assert np.count_nonzero(model.grads) > model.n_params // 3
    assert rel_error(model.grads, num) < 1e-6


def test_paper_net_gradient_matches_numerical_on_sampled_parameters(rng):
    model = convnet(np.float64, seed=3)
    assert model.n_params == 21840 and model.output_shape == (10,)
    x, y = rng.standard_normal((2, 1, 28, 28)), np.array([3, 7])
    state = model.rng.bit_generator.state
    model.loss_and_grad(x, y, softmax_cross_entropy, train=True)
    grads = model.grads.copy()
    h = 1e-6
    idx = np.concatenate([rng.choice(model.n_params, 60, replace=False), np.flatnonzero(grads)[::200]])
    for i in idx:
        old = model.params[i]
        values = []
        for v in (old + h, old - h):
            model.params[i] = v
            model.rng.bit_generator.state = state
            values.append(softmax_cross_entropy(model.forward(x, train=True), y)[0])
        model.params[i] = old
        num = (values[0] - values[1]) / (2 * h)
        assert abs(num - grads[i]) <= 1e-6 * max(1e-8 / 1e-6, abs(num) + abs(grads[i])) + 1e-9


# ------------------------------------------------------------------------------------------------
# dtypes, modes, errors


def test_float32_keeps_dtype_and_matches_float64(rng):
    m64, m32 = _small_net(np.float64), _small_net(np.float32)
    np.testing.assert_allclose(m32.params, m64.params, rtol=1e-6)
    x, y = rng.standard_normal((4, 2, 8, 8)), rng.integers(0, 3, size=4)
    out32, out64 = m32.forward(x), m64.forward(x)
    assert out32.dtype == np.float32 and out64.dtype == np.float64
    np.testing.assert_allclose(out32, out64, rtol=1e-4, atol=1e-5)
    m32.loss_and_grad(x, y, softmax_cross_entropy, train=False)
    m64.loss_and_grad(x, y, softmax_cross_entropy, train=False)
    assert m32.grads.dtype == np.float32
    np.testing.assert_allclose(m32.grads, m64.grads, rtol=1e-3, atol=1e-5)


def test_first_layer_without_input_gradient_gives_the_same_parameter_gradients(rng):
    a, b = _small_net(np.float64, input_grad=True), _small_net(np.float64, input_grad=False)
    x, y = rng.standard_normal((3, 2, 8, 8)), rng.integers(0, 3, size=3)
    a.loss_and_grad(x, y, softmax_cross_entropy, train=False)
    dx = a.backward(softmax_cross_entropy(a.forward(x), y)[1])
    b.loss_and_grad(x, y, softmax_cross_entropy, train=False)
    assert dx.shape == x.shape and b.backward(softmax_cross_entropy(b.forward(x), y)[1]) is None
    np.testing.assert_array_equal(a.grads, b.grads)


def test_dropout_train_eval_and_seeding():
    x = np.ones((200, 50))
    d = Sequential([Dropout(0.5)], (50,), seed=7)
    np.testing.assert_array_equal(d.forward(x, train=False), x)
    out = d.forward(x, train=True)
    assert set(np.unique(out)) == {0.0, 2.0}
    assert abs(np.mean(out == 0.0) - 0.5) < 0.02
    np.testing.assert_array_equal(d.backward(np.ones_like(x)), out)  # the same mask backwards
    again = Sequential([Dropout(0.5)], (50,), seed=7).forward(x, train=True)
    np.testing.assert_array_equal(out, again)
    assert not np.array_equal(out, d.forward(x, train=True))  # a new mask each step

    d2 = Sequential([Dropout2d(0.25)], (6, 3, 3), seed=1)
    x4 = np.ones((100, 6, 3, 3))
    out4 = d2.forward(x4, train=True)
    per_map = out4.reshape(100, 6, 9)
    assert np.all(per_map == per_map[:, :, :1])  # whole feature maps dropped together
    assert abs(np.mean(per_map[:, :, 0] == 0.0) - 0.25) < 0.06
    np.testing.assert_allclose(np.unique(out4), [0.0, 1.0 / 0.75])
    np.testing.assert_array_equal(d2.forward(x4, train=False), x4)


@pytest.mark.parametrize("make, match", [
    (lambda: Conv2D(0, 3), "filters must be a positive integer"),
    (lambda: Conv2D(2, (3, 0)), "kernel_size must be a positive integer"),
    (lambda: Conv2D(2, "a"), "kernel_size must be"),
    (lambda: MaxPool2D(0), "pool_size must be a positive integer"),
    (lambda: Dropout(1.0), r"p must be a number in \[0, 1\)"),
    (lambda: Dropout2d(-0.1), r"p must be a number in \[0, 1\)"),
])
def test_bad_arguments_are_refused(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_input_shapes_are_refused():
    with pytest.raises(ValueError, match="does not fit the input 4x4"):
        Sequential([Conv2D(2, 5)], (1, 4, 4))
    with pytest.raises(ValueError, match="image input shape"):
        Sequential([MaxPool2D(2)], (16,))
    with pytest.raises(ValueError, match="image input shape"):
        Sequential([Dropout2d(0.5)], (16,))


def test_a_few_sgd_steps_lower_the_loss(rng):
    model = _small_net(np.float32, seed=2)
    x, y = rng.standard_normal((30, 2, 8, 8)), rng.integers(0, 3, size=30)
    opt = SGD(lr=0.1, momentum=0.5)
    first = softmax_cross_entropy(model.forward(x), y)[0]
    for _ in range(60):
        opt.step(model.params, model.grads, model.loss_and_grad(x, y, softmax_cross_entropy, train=False))
    assert softmax_cross_entropy(model.forward(x), y)[0] < 0.75 * first


@pytest.mark.parametrize("input_grad", [True, False])
def test_chunked_forward_and_backward_match_one_chunk_and_the_loops(rng, input_grad):
    model, layer = _conv_layer(rng, np.float64, 2, (6, 7), 3, (3, 2))
    layer.input_grad = input_grad
    x = rng.standard_normal((7, 2, 6, 7))
    dout = rng.standard_normal((7, 3, 4, 6))
    whole = model.forward(x, train=True)          # the default work size: one chunk of 7 here
    model.backward(dout)
    grads = model.grads.copy()
    layer.chunk_bytes = layer.n_k * 4 * 6 * 8 * 3  # 7 samples in chunks of 3, 3 and 1
    assert layer._chunk(np.float64) == (24, 3)
    for train in (False, True):
        chunked = model.forward(x, train=train)
        np.testing.assert_allclose(chunked, whole, rtol=1e-14, atol=1e-14)
        np.testing.assert_allclose(chunked, conv_ref(x, layer.params["W"], layer.params["b"]), rtol=1e-12,
                                   atol=1e-12)
    dx = model.backward(dout)
    np.testing.assert_allclose(model.grads, grads, rtol=1e-13, atol=1e-13)
    dx_ref, dw_ref, db_ref = conv_backward_ref(dout, x, layer.params["W"])
    if input_grad:
        np.testing.assert_allclose(dx, dx_ref, rtol=1e-12, atol=1e-12)
    else:
        assert dx is None
    np.testing.assert_allclose(layer.grads["W"], dw_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.grads["b"], db_ref, rtol=1e-12, atol=1e-12)


def test_softmax_cross_entropy_float32_label_dtypes_and_nan(rng):
    pred64 = rng.standard_normal((7, 5)) * 4.0
    labels = rng.integers(0, 5, size=7)
    ref_value, ref_grad = softmax_cross_entropy(pred64, np.eye(5)[labels])   # the one-hot (NumPy) path
    for dtype in (np.float32, np.float64):
        pred = pred64.astype(dtype)
        for lab in (labels, labels.astype(np.uint8), labels.astype(np.int32)):
            value, grad = softmax_cross_entropy(pred, lab)
            assert grad.dtype == dtype and grad.shape == pred.shape
            tol = 1e-6 if dtype == np.float32 else 1e-12
            assert value == pytest.approx(ref_value, rel=tol)
            np.testing.assert_allclose(grad, ref_grad, rtol=tol * 10, atol=tol)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 5\), got values in \[-1, "):
        softmax_cross_entropy(pred64, np.array([0, 1, 2, -1, 4, 0, 1]))
    bad = pred64.copy()
    bad[2, 3] = np.nan
    value, grad = softmax_cross_entropy(bad, labels)
    assert np.isnan(value) and np.isnan(grad[2]).all() and np.isfinite(grad[[0, 1, 3, 4, 5, 6]]).all()


def test_relu_keeps_nan_takes_any_layout_and_both_dtypes(rng):
    from nagd.nn.layers import relu_backward, relu_forward
    for dtype in (np.float32, np.float64):
        x = rng.standard_normal((4, 6)).astype(dtype).T          # not C-contiguous
        x[1, 2], x[0, 0], x[2, 1] = np.nan, -np.inf, 0.0
        out, cache = relu_forward(x)
        assert out.dtype == dtype
        np.testing.assert_array_equal(out, np.where((x > 0) | np.isnan(x), x, 0).astype(dtype))  # NaN == NaN here
        assert np.isnan(out[1, 2]) and out[0, 0] == 0.0 and out[2, 1] == 0.0
        dout = rng.standard_normal(out.shape).astype(dtype)
        np.testing.assert_array_equal(relu_backward(dout, cache), np.where(out > 0, dout, 0).astype(dtype))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n, hw, f, k", [(2, (9, 9), 3, (5, 5)), (3, (7, 12), 2, (3, 5)), (2, (6, 7), 4, (3, 2)),
                                         (1, (5, 5), 1, (5, 5))])
def test_first_layer_direct_loops_match_the_reference(rng, dtype, n, hw, f, k):
    # one input channel and no input gradient: Conv2D uses its direct loops instead of im2col + BLAS
    layer = Conv2D(f, k, input_grad=False)
    model = Sequential([layer], (1, *hw), dtype=dtype, seed=rng)
    assert layer._direct
    x = rng.standard_normal((n, 1, *hw)).astype(dtype)
    w, b = layer.params["W"].astype(np.float64), layer.params["b"].astype(np.float64)
    out = model.forward(x)
    assert out.dtype == dtype
    dout = rng.standard_normal(out.shape).astype(dtype)
    assert model.backward(dout) is None
    _, dw_ref, db_ref = conv_backward_ref(dout.astype(np.float64), x.astype(np.float64), w)
    # error bounds of a sum of m terms in the dtype, |err| <= m eps sum |terms| (any order): the
    # forward adds kh*kw + 1 terms, the weight gradient n*oh*ow (its order depends on the CPU's vectors)
    eps = np.finfo(dtype).eps
    absx = np.abs(x.astype(np.float64))
    fwd_bound = (k[0] * k[1] + 1) * eps * conv_ref(absx, np.abs(w), np.abs(b))
    assert np.all(np.abs(out - conv_ref(x.astype(np.float64), w, b)) <= fwd_bound)
    _, dw_abs, db_abs = conv_backward_ref(np.abs(dout.astype(np.float64)), absx, w)
    m = n * out.shape[2] * out.shape[3]
    assert np.all(np.abs(layer.grads["W"] - dw_ref) <= m * eps * dw_abs)
    assert np.all(np.abs(layer.grads["b"] - db_ref) <= m * eps * db_abs)


def test_first_layer_direct_loops_gradient_matches_numerical(rng):
    layer = Conv2D(3, (4, 5), input_grad=False)
    model = Sequential([layer, MaxPool2D(2), ReLU(), Flatten(), Dense(3)], (1, 9, 10), seed=rng)
    x, y = rng.standard_normal((3, 1, 9, 10)), rng.integers(0, 3, size=3)
    model.loss_and_grad(x, y, softmax_cross_entropy)
    num = numerical_gradient(lambda _: softmax_cross_entropy(model.forward(x), y)[0], model.params)
    assert rel_error(model.grads, num) < 1e-6


@pytest.mark.parametrize("input_grad", [True, False])
def test_conv_on_an_empty_batch_gives_an_empty_output_and_zero_gradients(rng, input_grad):
    model = Sequential([Conv2D(2, 3, input_grad=input_grad), MaxPool2D(1), ReLU()], (1, 5, 5), seed=rng)
    out = model.forward(np.zeros((0, 1, 5, 5)))
    assert out.shape == (0, 2, 3, 3)
    model.grads[:] = 1.0
    dx = model.backward(np.zeros((0, 2, 3, 3)))
    assert dx is None if not input_grad else dx.shape == (0, 1, 5, 5)
    np.testing.assert_array_equal(model.grads, 0.0)
    full = _small_net(np.float64)
    assert full.forward(np.zeros((0, 2, 8, 8))).shape == (0, 3)


@pytest.mark.parametrize("layers, shape", [([Conv2D(2, 3)], (0,)), ([Conv2D(2, 1)], (0, 5, 5)),
                                           ([Conv2D(2, 1)], (1, 0, 5)), ([Dense(2)], (0,)),
                                           ([Dense(2)], (-3,))])
def test_empty_or_negative_input_shape_is_refused(layers, shape):
    with pytest.raises(ValueError, match=r"input_shape must be positive integers"):
        Sequential(layers, shape)


@pytest.mark.parametrize("make, shape", [(lambda: Conv2D(2, 3), (1, 2, 3, 3)),
                                         (lambda: Conv2D(2, 3, input_grad=False), (1, 2, 3, 3)),
                                         (lambda: MaxPool2D(1), (1, 1, 5, 5))])
def test_backward_before_forward_is_a_clear_error(make, shape):
    layer = make()
    model = Sequential([layer], (1, 5, 5))
    with pytest.raises(RuntimeError, match="backward before forward"):
        layer.backward(np.zeros(shape))
    with pytest.raises(RuntimeError, match="backward before forward"):
        model.backward(np.zeros(shape))


def test_importing_nn_loads_the_blas_of_the_compiled_products_so_a_thread_cap_reaches_it():
    pytest.importorskip("threadpoolctl")
    import subprocess
    import sys
    code = ("import nagd.nn\n"
            "from threadpoolctl import threadpool_info, threadpool_limits\n"
            "threadpool_limits(limits=1, user_api='blas')\n"
            "import scipy.linalg.cython_blas, os\n"
            "libs = [i for i in threadpool_info() if i['user_api'] == 'blas']\n"
            "scipy_dir = os.path.dirname(os.path.dirname(scipy.linalg.__file__))\n"
            "print(any(i['filepath'].startswith(scipy_dir) for i in libs), [i['num_threads'] for i in libs])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split(None, 1)
    assert out[0] == "True"
    assert set(eval(out[1])) == {1}


# ------------------------------------------------------------------------------------------------
# Conv2D [Dropout2d] MaxPool2D [ReLU] runs computed as one pass: the separate layers' results, bit for bit


def _block_net(dtype, c, hw, f, k, pool, drop, relu, input_grad, seed=0):
    layers = [Conv2D(f, k, input_grad=input_grad)] + ([Dropout2d(0.4)] if drop else []) + [MaxPool2D(pool)] \
        + ([ReLU()] if relu else []) + [Flatten(), Dense(3)]
    return Sequential(layers, (c, *hw), dtype=dtype, seed=seed)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("c, hw, f, k, pool, drop, relu, input_grad", [
    (1, (11, 10), 3, (3, 2), 2, False, True, False),     # first layer: direct loops
    (1, (9, 13), 5, (2, 4), 3, True, True, False),
    (1, (10, 14), 2, (6, 3), 2, True, True, False),      # kh > 5: the dense weight gradient
    (2, (8, 9), 4, (3, 3), 2, True, True, True),         # im2col path
    (3, (10, 7), 6, (2, 2), 3, False, False, True),
    (2, (7, 7), 5, (3, 2), 2, True, False, False),
    (1, (6, 6), 2, (2, 2), 1, True, True, True),
])
def test_fused_conv_block_equals_the_separate_layers(rng, dtype, c, hw, f, k, pool, drop, relu, input_grad):
    # Outputs, input gradients and masks bit for bit; the parameter gradients too, except where a first
    # layer (one channel, no input gradient) sums its pooled weight gradient over the windows' maxima
    # alone (kh <= 5, kw <= 8): the same sums in another order.
    x = rng.standard_normal((7, c, *hw)).astype(dtype)
    x[0, 0, 0, :2] = 0.0                                   # ties in the first windows
    y = rng.integers(0, 3, size=7)
    results = []
    for fuse in (True, False):
        model = _block_net(dtype, c, hw, f, k, pool, drop, relu, input_grad)
        model.fuse = fuse
        assert any(type(s).__name__ == "ConvBlock" for s in model._steps()) == fuse
        for train in (True, False):
            out = model.forward(x, train=train)
            value, d = softmax_cross_entropy(out, y)
            dx = model.backward(d)
            masks = [layer._mask for layer in model.layers if isinstance(layer, Dropout2d)]
            results.append((out, dx, masks, model.grads.copy()))
    reordered = c == 1 and not input_grad and k[0] <= 5 and k[1] <= 8
    for a, b in zip(results[:2], results[2:]):
        for u, v in zip(a[:2], b[:2]):
            if u is None:
                assert v is None and not input_grad
            else:
                assert u.dtype == v.dtype == dtype
                np.testing.assert_array_equal(u, v)
        for u, v in zip(a[2], b[2]):
            assert (u is None and v is None) or np.array_equal(u, v)
        if reordered:
            eps = np.finfo(dtype).eps
            np.testing.assert_allclose(a[3], b[3], rtol=200 * eps, atol=200 * eps * np.abs(b[3]).max())
        else:
            np.testing.assert_array_equal(a[3], b[3])


def test_fused_block_leaves_the_layers_ready_for_their_own_backward(rng):
    model = _block_net(np.float64, 2, (8, 8), 3, (3, 3), 2, True, True, True)
    unfused = _block_net(np.float64, 2, (8, 8), 3, (3, 3), 2, True, True, True)
    unfused.fuse = False
    x = rng.standard_normal((4, 2, 8, 8))
    h, h_ref = model.forward(x, train=True), unfused.forward(x, train=True)
    np.testing.assert_array_equal(h, h_ref)
    d = rng.standard_normal(h.shape)
    for m in (model, unfused):                              # layer by layer, last to first
        g = d
        for layer in reversed(m.layers):
            g = layer.backward(g)
        m.dx = g
    np.testing.assert_array_equal(model.dx, unfused.dx)
    np.testing.assert_array_equal(model.grads, unfused.grads)


def test_paper_net_runs_both_conv_blocks_fused_and_matches_unfused(rng):
    model, ref = convnet(np.float32, seed=4), convnet(np.float32, seed=4)
    ref.fuse = False
    assert [type(s).__name__ for s in model._steps()][:2] == ["ConvBlock", "ConvBlock"]
    x, y = rng.standard_normal((9, 1, 28, 28)).astype(np.float32), rng.integers(0, 10, size=9)
    for m in (model, ref):
        m.loss_and_grad(x, y, softmax_cross_entropy, train=True)
    n1 = model.layers[0].params["W"].size + model.layers[0].params["b"].size
    np.testing.assert_array_equal(model.grads[n1:], ref.grads[n1:])      # the first layer's sums are reordered
    np.testing.assert_allclose(model.grads[:n1], ref.grads[:n1], rtol=1e-4, atol=1e-6 * np.abs(ref.grads).max())


_BITS_SCRIPT = """
import hashlib, sys, numpy as np
sys.path.insert(0, sys.argv[1])
from _networks import convnet
from nagd.nn import softmax_cross_entropy, _simd
rng = np.random.default_rng(5)
h = hashlib.sha256()
for dtype in (np.float32, np.float64):
    model = convnet(dtype, seed=2)
    x, y = rng.standard_normal((13, 1, 28, 28)).astype(dtype), rng.integers(0, 10, size=13)
    h.update(model.forward(x).tobytes())
    model.loss_and_grad(x, y, softmax_cross_entropy, train=True)
    h.update(model.grads.tobytes())
print(_simd.WIDE, _simd.FMA, h.hexdigest())
"""


def test_conv_sums_do_not_depend_on_the_register_tiles():
    # The kernels use 4 x 4 register tiles with AVX-512 and smaller ones otherwise, on vectors of a fixed
    # width: compiled for this CPU without its AVX-512 (FMA kept), the network gives the same bits.
    import os
    import subprocess
    import sys
    from numba.core.codegen import get_host_cpu_features
    features = get_host_cpu_features().split(",")
    if "+fma" not in features:
        pytest.skip("the tiles are compared on a CPU with FMA")
    narrow = ",".join(f.replace("+avx512", "-avx512") for f in features)
    base = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES")}
    runs = []
    for env in ({"NUMBA_CPU_FEATURES": ",".join(features)}, {"NUMBA_CPU_FEATURES": narrow}):
        out = subprocess.run([sys.executable, "-c", _BITS_SCRIPT, os.path.dirname(__file__)], capture_output=True,
                             text=True, check=True,
                             env={**base, **env}).stdout.split()
        runs.append(out)
    assert runs[1][:2] == ["False", "True"]
    assert runs[0][2] == runs[1][2]


# ------------------------------------------------------------------------------------------------
# Random shapes: Conv2D alone and the fused block against NumPy (einsum) in float64


@st.composite
def _conv_cases(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    oh, ow = draw(st.integers(1, 7)), draw(st.integers(1, 10))     # output widths up to 10: the rows of 8 too
    pool = draw(st.integers(0, min(3, oh, ow)))                      # 0: Conv2D alone, else a fused block
    return dict(n=draw(st.integers(1, 3)), c=draw(st.integers(1, 3)), f=draw(st.integers(1, 5)),
                hw=(oh + kh - 1, ow + kw - 1), k=(kh, kw), pool=pool, drop=pool > 0 and draw(st.booleans()),
                relu=pool > 0 and draw(st.booleans()), input_grad=draw(st.booleans()),
                seed=draw(st.integers(0, 2**32 - 1)))


def _pool_windows(a, k):
    """(n, f, oh, ow) -> (n, f, oh//k, ow//k, k*k): each k x k window, its elements in row order."""
    n, f, oh, ow = a.shape
    ph, pw = oh // k, ow // k
    return a[:, :, :ph * k, :pw * k].reshape(n, f, ph, k, pw, k).transpose(0, 1, 2, 4, 3, 5).reshape(
        n, f, ph, pw, k * k)


def _conv_input_grad(dy, w, hw):
    """The gradient with respect to the input of a valid convolution, from dy (n, f, oh, ow)."""
    _, _, kh, kw = w.shape
    oh, ow = dy.shape[2:]
    dx = np.zeros((dy.shape[0], w.shape[1], *hw))
    for i in range(kh):
        for j in range(kw):
            dx[:, :, i:i + oh, j:j + ow] += np.einsum("nfyx,fc->ncyx", dy, w[:, :, i, j])
    return dx


@settings(max_examples=25, deadline=None)
@given(case=_conv_cases())
def test_conv_and_fused_block_match_numpy_on_random_shapes(case):
    n, c, f, (kh, kw), pool = case["n"], case["c"], case["f"], case["k"], case["pool"]
    layers = [Conv2D(f, (kh, kw), input_grad=case["input_grad"])]
    if pool:
        layers += ([Dropout2d(0.4)] if case["drop"] else []) + [MaxPool2D(pool)] + ([ReLU()] if case["relu"] else [])
    model = Sequential(layers, (c, *case["hw"]), dtype=np.float64, seed=case["seed"])
    assert any(type(s).__name__ == "ConvBlock" for s in model._steps()) == (pool > 0)
    rng = np.random.default_rng(case["seed"])
    x = rng.standard_normal((n, c, *case["hw"]))
    out = model.forward(x, train=True)
    dout = rng.standard_normal(out.shape)
    dx = model.backward(dout)
    conv = layers[0]
    w, b = conv.params["W"], conv.params["b"]
    scale = layers[1]._mask[:, :, 0, 0] if case["drop"] else np.ones((n, f))

    # Reference, and the same sums over absolute values: each entry of the kernels and of the reference
    # is a sum of m terms, so their difference is at most 2 m eps times the sum of the terms' absolute values.
    def forward(x, w, b, scale):
        win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))     # (n, c, oh, ow, kh, kw)
        return win, (np.einsum("ncyxij,fcij->nfyx", win, w) + b[:, None, None]) * scale[:, :, None, None]

    win, z = forward(x, w, b, scale)
    z_abs = forward(np.abs(x), np.abs(w), np.abs(b), np.abs(scale))[1]
    eps = np.finfo(np.float64).eps
    if pool:
        windows = _pool_windows(z, pool)
        first_max = windows.argmax(-1)[..., None]                  # the first maximum on ties, as the kernels
        ref = np.take_along_axis(windows, first_max, -1)[..., 0]
        ref_abs = _pool_windows(z_abs, pool).max(-1)               # max and ReLU move no value by more than this
        if case["relu"]:
            ref = np.maximum(ref, 0.0)
        g = dout * (out > 0) if case["relu"] else dout
        routed = np.zeros(windows.shape)
        np.put_along_axis(routed, first_max, g[..., None], -1)
        dz = np.zeros(z.shape)
        ph, pw = out.shape[2:]
        dz[:, :, :ph * pool, :pw * pool] = routed.reshape(n, f, ph, pw, pool, pool).transpose(
            0, 1, 2, 4, 3, 5).reshape(n, f, ph * pool, pw * pool)
        dy = dz * scale[:, :, None, None]
    else:
        ref, ref_abs, dy = z, z_abs, dout
    assert np.all(np.abs(out - ref) <= 2 * (c * kh * kw + 2) * eps * ref_abs)   # + the bias and the dropout scale
    m = n * dy.shape[2] * dy.shape[3]                                           # terms of a parameter gradient
    dw_ref, dw_abs = np.einsum("ncyxij,nfyx->fcij", win, dy), np.einsum("ncyxij,nfyx->fcij", np.abs(win), np.abs(dy))
    assert np.all(np.abs(conv.grads["W"] - dw_ref) <= 2 * m * eps * dw_abs)
    assert np.all(np.abs(conv.grads["b"] - dy.sum((0, 2, 3))) <= 2 * m * eps * np.abs(dy).sum((0, 2, 3)))
    if case["input_grad"]:
        dx_abs = _conv_input_grad(np.abs(dy), np.abs(w), case["hw"])
        assert np.all(np.abs(dx - _conv_input_grad(dy, w, case["hw"])) <= 2 * f * kh * kw * eps * dx_abs)
    else:
        assert dx is None
