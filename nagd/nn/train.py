"""Minibatch training and evaluation loops over a `Sequential` and any `nagd.optim` optimizer.

One training step is: forward in train mode, loss, backward into ``model.grads``,
then one ``optimizer.step(model.params, model.grads, loss)`` (one kernel call).
Evaluation runs in eval mode (dropout off) and never touches the gradients.

A loss that is not finite stops training with `TrainingDiverged` before the
optimizer sees it, so parameters are never updated with a NaN or infinite
gradient.
"""
import math

import numpy as np

from .._validation import positive_int

__all__ = ["TrainingDiverged", "minibatches", "evaluate", "train_epoch", "fit"]


class TrainingDiverged(FloatingPointError):
    """The loss became NaN or infinite; training stopped before a step was taken with it.

    Parameters
    ----------
    step : int
        The 0-based global step where it happened.
    loss : float
        The loss value (NaN or infinite).
    """

    def __init__(self, step, loss):
        super().__init__(f"loss became {loss!r} at step {step}; parameters are those before that step")
        self.step, self.loss = step, loss


def _data(X, y):
    X, y = np.asarray(X), np.asarray(y)
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"X and y must have the same number of samples, got {X.shape[0]} and {y.shape[0]}")
    if X.shape[0] == 0:
        raise ValueError("X must not be empty")
    return X, y


def minibatches(n, batch_size, rng=None, shuffle=True):
    """Yield index arrays covering range(n) once, in minibatches (the last one may be smaller).

    Parameters
    ----------
    n : int
        Number of samples.
    batch_size : int
    rng : numpy.random.Generator or None
        Draws the permutation when shuffle is true (required then).
    shuffle : bool, default True

    Yields
    ------
    ndarray of shape (<= batch_size,), int64
    """
    batch_size = positive_int("batch_size", batch_size)
    if shuffle:
        if rng is None:
            raise ValueError("rng is required when shuffle=True")
        order = rng.permutation(n)
    else:
        order = np.arange(n)
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size]


def evaluate(model, X, y, metrics, batch_size=1000):
    """Evaluate metrics on (X, y) in eval mode, in batches.

    Parameters
    ----------
    model : Sequential
    X : ndarray of shape (n, ...) matching ``model.input_shape``
    y : ndarray of shape (n, ...)
    metrics : dict of str to callable
        ``metric(pred, target) -> float`` (a mean over the batch), or a loss of
        `nagd.nn.losses` returning ``(value, dpred)``. Batch values are weighted
        by batch size, so the result is the mean over all n samples.
    batch_size : int, default 1000

    Returns
    -------
    dict of str to float
    """
    X, y = _data(X, y)
    batch_size = positive_int("batch_size", batch_size)
    totals = dict.fromkeys(metrics, 0.0)
    n = X.shape[0]
    for idx in minibatches(n, batch_size, shuffle=False):
        pred = model.forward(X[idx], train=False)
        for name, metric in metrics.items():
            value = metric(pred, y[idx])
            if isinstance(value, tuple):
                value = value[0]
            totals[name] += float(value) * len(idx)
    return {name: total / n for name, total in totals.items()}


def train_epoch(model, optimizer, X, y, loss, batch_size=1, rng=None, shuffle=True, on_step=None, step=0):
    """One pass over (X, y) in minibatches, one optimizer step per minibatch.

    Parameters
    ----------
    model : Sequential
    optimizer : nagd.optim.Optimizer
        Anything with ``step(params, grad, loss) -> lr``.
    X : ndarray of shape (n, ...) matching ``model.input_shape``
    y : ndarray of shape (n, ...)
    loss : callable
        ``loss(pred, target) -> (value, dpred)``, e.g. `nagd.nn.losses.mse`.
    batch_size : int, default 1
    rng : numpy.random.Generator or None
        Shuffles the samples (required when shuffle is true).
    shuffle : bool, default True
    on_step : callable or None
        ``on_step(step, loss_value, optimizer)`` after each step (``step`` counts
        from 1 over the whole run). Raising `StopIteration` ends the epoch early.
    step : int, default 0
        Global steps done before this epoch.

    Returns
    -------
    mean_loss : float
        Mean minibatch loss over the steps taken (before each step), nan if none.
    step : int
        Global steps done after this epoch.

    Raises
    ------
    TrainingDiverged
        If a minibatch loss is NaN or infinite (no step is taken with it).
    """
    X, y = _data(X, y)
    total, count = 0.0, 0
    for idx in minibatches(X.shape[0], batch_size, rng=rng, shuffle=shuffle):
        value = model.loss_and_grad(X[idx], y[idx], loss, train=True)
        if not math.isfinite(value):
            raise TrainingDiverged(step, value)
        optimizer.step(model.params, model.grads, value)
        step += 1
        total += value
        count += 1
        if on_step is not None:
            try:
                on_step(step, value, optimizer)
            except StopIteration:
                break
    return (total / count if count else math.nan), step


def fit(model, optimizer, X, y, loss, *, epochs, batch_size=1, seed=None, shuffle=True,
        eval_sets=None, metrics=None, eval_batch_size=1000, on_step=None, on_epoch=None, history=None,
        stop=None):
    """Train for several epochs, evaluating after each one.

    Parameters
    ----------
    model : Sequential
    optimizer : nagd.optim.Optimizer
    X, y : ndarray
        Training data (see `train_epoch`).
    loss : callable
        ``loss(pred, target) -> (value, dpred)``.
    epochs : int
        Number of epochs to run (in total, counting those already in `history`).
    batch_size : int, default 1
    seed : int, numpy.random.Generator or None
        Seeds the shuffling.
    shuffle : bool, default True
    eval_sets : dict of str to (X, y), or None
        Data sets evaluated after every epoch (and once before the first, as epoch 0).
    metrics : dict of str to callable, or None
        As in `evaluate`; None means ``{"loss": loss}``.
    eval_batch_size : int, default 1000
    on_step : callable or None
        Passed to `train_epoch`.
    on_epoch : callable or None
        ``on_epoch(epoch, history)`` after each epoch's evaluation, e.g. to save a
        checkpoint. Raising `StopIteration` stops training.
    history : dict or None
        A history returned before, to resume from: training continues at epoch
        ``history["epoch"][-1] + 1``. The caller restores the model, optimizer and
        rng state.
    stop : object or None
        A stopping rule such as `nagd.diagnostics.OscillationStop`: its
        ``update(lr) -> bool`` receives the optimizer's ``last_lr`` after every
        step, and training ends (the epoch is recorded) once it returns True.

    Returns
    -------
    history : dict of str to list
        ``"epoch"`` (0 = before training), ``"step"``, ``"train_loss"`` (nan at
        epoch 0), ``"lr"`` (the last step's lr, nan at epoch 0) and
        ``"<set>_<metric>"`` for every eval set and metric.

    Raises
    ------
    TrainingDiverged
        If a training loss is NaN or infinite.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ValueError(f"epochs must be a non-negative integer, got {epochs!r}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    metrics = {"loss": loss} if metrics is None else dict(metrics)
    eval_sets = {} if eval_sets is None else dict(eval_sets)

    def record(epoch, step, train_loss, lr):
        history["epoch"].append(epoch)
        history["step"].append(step)
        history["train_loss"].append(train_loss)
        history["lr"].append(lr)
        for set_name, (Xe, ye) in eval_sets.items():
            for name, value in evaluate(model, Xe, ye, metrics, eval_batch_size).items():
                history.setdefault(f"{set_name}_{name}", []).append(value)

    if history is None:
        history = {"epoch": [], "step": [], "train_loss": [], "lr": []}
        record(0, 0, math.nan, math.nan)
    step = history["step"][-1]
    fired = []
    if stop is not None:
        on_step = _stopping(stop, on_step, fired)
    for epoch in range(history["epoch"][-1] + 1, epochs + 1):
        train_loss, step = train_epoch(model, optimizer, X, y, loss, batch_size, rng=rng, shuffle=shuffle,
                                       on_step=on_step, step=step)
        lr = optimizer.last_lr
        record(epoch, step, train_loss, math.nan if lr is None else lr)
        if on_epoch is not None:
            try:
                on_epoch(epoch, history)
            except StopIteration:
                break
        if fired:
            break
    return history


def _stopping(rule, on_step, fired):
    """An on_step hook that feeds each step's lr to rule.update and ends the epoch once it returns True."""
    update = getattr(rule, "update", None)
    if not callable(update):
        raise TypeError(f"stop must have an update(lr) method, got {rule!r}")

    def hook(step, value, optimizer):
        if on_step is not None:
            on_step(step, value, optimizer)
        if optimizer.last_lr is not None and update(optimizer.last_lr):
            fired.append(step)
            raise StopIteration

    return hook
