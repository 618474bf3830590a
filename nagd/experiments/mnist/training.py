"""One run of section 4 (`run`): training with per-epoch evaluation and checkpoints (`save_checkpoint`,
`load_checkpoint`)."""
import contextlib
import hashlib
import json
import math
import os

import numpy as np

from ... import optim
from ...nn.parallel import DataParallel
from ...nn.train import TrainingDiverged, fit
from .. import checkpoint
from ..runner import continued_config
from .model import LOSSES, accuracy, binary_accuracy, build_model, load_data

__all__ = ["run", "save_checkpoint", "load_checkpoint", "CHECKPOINT_FORMAT", "EXTRA_METRICS"]


def _single_threaded_blas():
    """Cap BLAS at one thread (when threadpoolctl is installed; otherwise leave it alone)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


# ------------------------------------------------------------------------------------------------
# Checkpoints


CHECKPOINT_FORMAT = checkpoint.FORMAT
"""Version of the checkpoint layout that `save_checkpoint` writes (`nagd.experiments.checkpoint`)."""

_CKPT = checkpoint.FILE_NAME


def _optimizer_state(optimizer):
    """The optimizer's part of a checkpoint (`nagd.experiments.checkpoint.optimizer_section`).

    Raises
    ------
    TypeError
        For state its state_dict cannot hold, before any training.
    """
    return checkpoint.optimizer_section(optimizer)


def _config_digest(config, seed):
    text = json.dumps({"config": config, "seed": int(seed)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def save_checkpoint(folder, config, seed, params, optimizer, generators, history):
    """Save everything a run needs to continue after the epoch just finished.

    The file is ``folder/checkpoint.bin`` in the format of `nagd.experiments.checkpoint`:
    the parameters ``params``, the optimizer's state_dict, the states of the random
    ``generators`` (sample order, dropout masks), the history and a digest of config and
    seed, with the sha256 of it all. Written to a temporary file and moved into place, so a
    crash never leaves a half-written checkpoint.

    Parameters
    ----------
    folder : str
        The run's checkpoint folder.
    config : dict
    seed : int
        The run's config and seed (a digest of both is stored).
    params : ndarray of shape (n_params,)
    optimizer : nagd.optim.Optimizer
        Saved through its ``state_dict()``.
    generators : list of numpy.random.Generator
    history : dict
        JSON data: the curves so far.

    Raises
    ------
    TypeError
        If the optimizer holds state its state_dict cannot hold (nothing is written).
    nagd.experiments.runner.StoreError
        If the file cannot be written.
    """
    checkpoint.save(folder, _config_digest(config, seed), params, optimizer, generators, history)


def load_checkpoint(folder, config, seed, params, optimizer, generators):
    """Restore a run saved by `save_checkpoint` into params (in place), optimizer and generators.

    Parameters
    ----------
    folder, config, seed, params, optimizer, generators
        As in `save_checkpoint`; the last three are changed. A run that continues a shorter
        one (``continues`` in its config) also accepts the shorter run's checkpoint.

    Returns
    -------
    dict or None
        The history to resume from, or None when there is no usable checkpoint
        (none saved; or corrupt, another run's, or holding optimizer state this version does
        not hold: a name it lacks or does not know, an array of another shape or dtype,
        a value of another type, a setting other than the config's, a malformed generator
        state; with a `CheckpointWarning`: it is then moved into ``quarantine/`` beside it).
        Checkpoints of every `CHECKPOINT_FORMAT` from 1 are read. Every value is checked
        before any is restored: nothing is changed unless the checkpoint is restored whole.

    Raises
    ------
    nagd.experiments.runner.StoreError
        If the checkpoint exists but cannot be read (permissions, I/O error, a folder, FIFO or
        device in its place) or was written by a newer version (a later `CHECKPOINT_FORMAT`):
        it is left as it is.
    """
    shorter = continued_config(config)
    runs = [_config_digest(config, seed)] + ([_config_digest(shorter, seed)] if shorter else [])
    return checkpoint.load(folder, runs, params, optimizer, generators, stacklevel=3)


# ------------------------------------------------------------------------------------------------
# One run


def _dropout_on_evaluation(model, X, y, metrics, rng, batch_size):
    """Metrics on (X, y) with dropout on (train mode), masks drawn from rng, not the training stream."""
    saved = [layer.rng for layer in model.layers]
    for layer in model.layers:
        layer.rng = rng
    try:
        totals, n = dict.fromkeys(metrics, 0.0), X.shape[0]
        for start in range(0, n, batch_size):
            pred = model.forward(X[start:start + batch_size], train=True)
            for name, metric in metrics.items():
                value = metric(pred, y[start:start + batch_size])
                totals[name] += float(value[0] if isinstance(value, tuple) else value) * pred.shape[0]
        return {name: total / n for name, total in totals.items()}
    finally:
        for layer, r in zip(model.layers, saved):
            layer.rng = r


EXTRA_METRICS = ("test_dropout_accuracy", "test_dropout_loss", "train_running_accuracy")
"""Recorded per epoch when ``config["metrics"] == "all"``, besides the test-set metrics in eval mode
and the running training loss: the test set evaluated with dropout on, and the running accuracy on
the training minibatches (dropout on, before each step), as a Keras ``fit`` log shows it."""


def run(config, seed, *, checkpoint_dir=None):
    """Train the network with one optimizer from one seed; evaluate the test set after every epoch.

    Parameters
    ----------
    config : dict
        ``optimizer``, ``params``, ``epochs``, ``batch_size``, ``dataset``,
        ``dtype``, ``threads``, ``eval_batch_size`` (see `CONFIGS`); optionally
        ``n_train`` and ``n_test`` to use only the first images of each split, and the
        variants of section 4's hypotheses: ``loss`` (a key of `LOSSES`, default
        ``"softmax_ce"``), ``normalize`` (`NORMALIZATIONS`, default ``"standard"``),
        ``dropout`` (`DROPOUTS`, default ``"channel"``), ``init`` (``"uniform"``, PyTorch's, the
        default, or ``"glorot"``, Keras') and ``metrics`` (``"all"`` also records `EXTRA_METRICS`).
    seed : int
        Seeds the initial weights and dropout masks, and (separately) the sample order.
    checkpoint_dir : str or None
        Folder for the per-epoch checkpoint (resume after an interruption).

    Returns
    -------
    dict
        ``epoch``, ``test_accuracy``, ``test_loss``, ``train_loss`` (per epoch,
        epoch 0 = before training, train loss None there), ``final_accuracy``,
        ``final_loss``, ``dataset`` (the data used), ``n_train``, ``n_test``; with
        ``metrics="all"`` also the curves of `EXTRA_METRICS` (None at epoch 0), and
        ``test_binary_accuracy`` for the ``sigmoid_bce`` loss. With ``metrics="all"`` a run
        whose loss becomes NaN or infinite is a result, not an error: ``diverged_at_step``
        (0-based), the curves of the completed epochs, and None final values.

    Raises
    ------
    nagd.nn.TrainingDiverged
        If a minibatch loss becomes NaN or infinite (unless ``metrics="all"``).
    """
    dtype = np.dtype(config.get("dtype", "float32"))
    X_train, y_train, X_test, y_test, source = load_data(config.get("dataset", "auto"), dtype.name,
                                                         config.get("normalize", "standard"))
    n_train, n_test = config.get("n_train"), config.get("n_test")
    if n_train is not None:
        X_train, y_train = X_train[:int(n_train)], y_train[:int(n_train)]
    if n_test is not None:
        X_test, y_test = X_test[:int(n_test)], y_test[:int(n_test)]
    loss_name = config.get("loss", "softmax_ce")
    if loss_name not in LOSSES:
        raise ValueError(f"loss must be one of {tuple(LOSSES)}, got {loss_name!r}")
    loss = LOSSES[loss_name]
    extra = config.get("metrics", "test") == "all"
    dropout = config.get("dropout", "channel")
    seeds = np.random.SeedSequence(int(seed)).spawn(3 if extra else 2)
    init = config.get("init", "uniform")
    model = build_model(dtype, seed=np.random.default_rng(seeds[0]), dropout=dropout, init=init)
    threads = int(config.get("threads", 1))
    if threads > 1:
        if extra:
            raise ValueError("metrics='all' needs threads=1")
        model = DataParallel(model, lambda: build_model(dtype, seed=0, dropout=dropout, init=init), threads)
    optimizer = optim.make(config["optimizer"], **config.get("params", {}))
    shuffle_rng = np.random.default_rng(seeds[1])
    generators = [shuffle_rng] + (model.generators if threads > 1 else [model.rng])
    metrics = {"loss": loss, "accuracy": accuracy}
    if loss_name == "sigmoid_bce":
        metrics["binary_accuracy"] = binary_accuracy
    running = [0, 0]      # correct, seen: training minibatches of the current epoch
    train_loss_fn = loss
    if extra:
        eval_rng = np.random.default_rng(seeds[2])
        generators.append(eval_rng)

        def train_loss_fn(pred, y):
            running[0] += int(np.sum(np.argmax(pred, axis=1) == y))
            running[1] += pred.shape[0]
            return loss(pred, y)

    history = None
    if checkpoint_dir is not None:
        _optimizer_state(optimizer)         # state that cannot be checkpointed: refused before any training
        os.makedirs(checkpoint_dir, exist_ok=True)
        history = load_checkpoint(checkpoint_dir, config, seed, model.params, optimizer, generators)

    seen = {}

    def on_epoch(epoch, hist):
        seen["history"] = hist
        if extra:
            dropped = _dropout_on_evaluation(model, X_test, y_test, {"loss": loss, "accuracy": accuracy}, eval_rng,
                                             int(config.get("eval_batch_size", 1000)))
            for key, value in (("test_dropout_accuracy", dropped["accuracy"]), ("test_dropout_loss", dropped["loss"]),
                               ("train_running_accuracy", running[0] / max(running[1], 1))):
                hist.setdefault(key, [None]).append(value)
            running[:] = [0, 0]
        if checkpoint_dir is not None:
            save_checkpoint(checkpoint_dir, config, seed, model.params, optimizer, generators, hist)

    diverged = None
    # with metrics="all" a blow-up is an outcome (TrainingDiverged below), not a warning to raise
    quiet = np.errstate(over="ignore", invalid="ignore") if extra else contextlib.nullcontext()
    with _single_threaded_blas(), quiet:
        try:
            history = fit(model, optimizer, X_train, y_train, train_loss_fn, epochs=int(config["epochs"]),
                          batch_size=int(config.get("batch_size", 60)), seed=shuffle_rng,
                          eval_sets={"test": (X_test, y_test)}, metrics=metrics,
                          eval_batch_size=int(config.get("eval_batch_size", 1000)), on_epoch=on_epoch,
                          history=history)
        except TrainingDiverged as exc:
            if not extra:
                raise
            # a variant that diverges is an outcome, not a failure: keep the epochs completed
            diverged = int(exc.step)
            history = seen.get("history") or history or {"epoch": [], "test_accuracy": [], "test_loss": [],
                                                         "train_loss": []}
    if threads > 1:
        model.close()
    if diverged is not None:
        def curve(key):
            return [None if v is None or not math.isfinite(v) else float(v) for v in history.get(key, [])]

        result = {key: curve(key) for key in ("test_accuracy", "test_loss", "train_loss") + EXTRA_METRICS}
        result.update(epoch=[int(e) for e in history["epoch"]], final_accuracy=None, final_loss=None,
                      diverged_at_step=diverged, dataset=source, n_train=int(X_train.shape[0]),
                      n_test=int(X_test.shape[0]))
        return result

    def clean(values):
        return [None if v is None or not math.isfinite(v) else float(v) for v in values]

    result = {"epoch": [int(e) for e in history["epoch"]], "test_accuracy": clean(history["test_accuracy"]),
              "test_loss": clean(history["test_loss"]), "train_loss": clean(history["train_loss"]),
              "final_accuracy": float(history["test_accuracy"][-1]), "final_loss": float(history["test_loss"][-1]),
              "dataset": source, "n_train": int(X_train.shape[0]), "n_test": int(X_test.shape[0])}
    for key in (EXTRA_METRICS if extra else ()) + (("test_binary_accuracy",) if loss_name == "sigmoid_bce" else ()):
        result[key] = clean(history[key])
    return result
