"""Training and evaluation loops: against a hand-written loop, eval mode, history, divergence."""
import math

import numpy as np
import pytest

from nagd.nn import Dense, Layer, Sequential, TrainingDiverged, evaluate, fit, mean_distance, mse, train_epoch
from nagd.nn.train import minibatches
from nagd.optim import SGD, Adam, NaGD


def _problem(rng, n=30):
    X = rng.uniform(size=(n, 3))
    y = np.tanh(X @ rng.standard_normal((3, 2)))
    return X, y


def test_minibatches_cover_every_index_once(rng):
    batches = list(minibatches(10, 3, rng=rng))
    assert [len(b) for b in batches] == [3, 3, 3, 1]
    assert sorted(np.concatenate(batches)) == list(range(10))
    assert np.concatenate(list(minibatches(5, 2, shuffle=False))).tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="rng is required"):
        list(minibatches(5, 2))
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        list(minibatches(5, 0, shuffle=False))


@pytest.mark.parametrize("make_opt", [lambda: NaGD(alpha=0.5), lambda: Adam(lr=0.01)])
def test_train_epoch_matches_a_hand_written_loop(rng, make_opt):
    X, y = _problem(rng)
    a, b = (Sequential([Dense(2, "tanh")], (3,), seed=4) for _ in range(2))
    opt_a, opt_b = make_opt(), make_opt()
    mean_loss, step = train_epoch(a, opt_a, X, y, mse, batch_size=4, rng=np.random.default_rng(1))
    order = np.random.default_rng(1).permutation(len(X))
    losses = []
    for start in range(0, len(X), 4):
        idx = order[start:start + 4]
        pred = np.tanh(X[idx] @ b.layers[0].params["W"] + b.layers[0].params["b"])
        value = np.mean((pred - y[idx]) ** 2)
        dz = 2 * (pred - y[idx]) / pred.size * (1 - pred ** 2)
        grad = np.concatenate([(X[idx].T @ dz).ravel(), dz.sum(axis=0)])
        opt_b.step(b.params, grad, value)
        losses.append(value)
    assert step == 8
    assert mean_loss == pytest.approx(np.mean(losses), rel=1e-12)
    np.testing.assert_allclose(a.params, b.params, rtol=1e-12)


class _Mode(Layer):
    """Records the train flag it was called with and doubles in train mode."""

    def forward(self, x, train=False):
        self.seen = train
        return 2 * x if train else x

    def backward(self, dout):
        return 2 * dout


def test_evaluate_uses_eval_mode_and_weights_batches(rng):
    X, y = _problem(rng, n=7)
    model = Sequential([Dense(2), _Mode()], (3,), seed=0)
    result = evaluate(model, X, y, {"mse": mse, "dist": lambda p, t: mean_distance(p, t)[0]}, batch_size=3)
    assert model.layers[1].seen is False
    pred = model.forward(X)
    assert result["mse"] == pytest.approx(np.mean((pred - y) ** 2), rel=1e-12)
    assert result["dist"] == pytest.approx(np.mean(np.linalg.norm(pred - y, axis=1)), rel=1e-12)
    model.loss_and_grad(X, y, mse)
    assert model.layers[1].seen is True


def test_fit_history_lowers_the_loss_and_resumes(rng):
    X, y = _problem(rng)
    model = Sequential([Dense(2, "tanh")], (3,), seed=0)
    epochs_seen = []
    hist = fit(model, NaGD(alpha=1.0), X, y, mse, epochs=3, batch_size=1, seed=0,
               eval_sets={"test": (X, y)}, metrics={"dist": mean_distance},
               on_epoch=lambda e, h: epochs_seen.append(e))
    assert hist["epoch"] == [0, 1, 2, 3] and hist["step"] == [0, 30, 60, 90] and epochs_seen == [1, 2, 3]
    assert math.isnan(hist["train_loss"][0]) and hist["test_dist"][-1] < 0.5 * hist["test_dist"][0]
    hist = fit(model, NaGD(alpha=1.0), X, y, mse, epochs=5, seed=0, eval_sets={"test": (X, y)},
               metrics={"dist": mean_distance}, history=hist)
    assert hist["epoch"] == [0, 1, 2, 3, 4, 5] and hist["step"][-1] == 150


def test_on_step_and_on_epoch_can_stop(rng):
    X, y = _problem(rng)
    model = Sequential([Dense(2)], (3,), seed=0)

    def stop_at_5(step, loss, opt):
        if step == 5:
            raise StopIteration

    _, step = train_epoch(model, SGD(lr=0.1), X, y, mse, rng=rng, on_step=stop_at_5)
    assert step == 5

    def stop(epoch, history):
        raise StopIteration

    assert fit(model, SGD(lr=0.1), X, y, mse, epochs=10, seed=0, on_epoch=stop)["epoch"] == [0, 1]


def test_divergence_raises_before_a_nan_step(rng):
    X, y = _problem(rng)
    model = Sequential([Dense(2)], (3,), seed=0)
    model.params[0] = np.nan
    before = model.params.copy()
    with pytest.raises(TrainingDiverged, match="at step 0") as info:
        train_epoch(model, SGD(lr=0.1), X, y, mse, rng=rng)
    assert info.value.step == 0
    np.testing.assert_array_equal(model.params, before)


def test_bad_arguments_raise(rng):
    X, y = _problem(rng)
    model = Sequential([Dense(2)], (3,), seed=0)
    with pytest.raises(ValueError, match="same number of samples"):
        train_epoch(model, SGD(), X, y[:5], mse, rng=rng)
    with pytest.raises(ValueError, match="epochs must be a non-negative integer"):
        fit(model, SGD(), X, y, mse, epochs=-1)
