"""Data sets: the IDX reader, MNIST / Fashion-MNIST loaders, the offline MNIST sample, and the
synthetic layer-matching set of the paper's section 3. Nothing here downloads at import or load time."""
from typing import NamedTuple

import numpy as np


class LayerMatching(NamedTuple):
    """The layer-matching data set returned by `make_layer_matching`.

    Attributes
    ----------
    X_train, X_test : ndarray of shape (n_train, n_in) and (n_samples - n_train, n_in)
        Inputs drawn uniformly from [0, 1]^n_in.
    y_train, y_test : ndarray of shape (., n_out)
        ``tanh(X @ W + b)``.
    W : ndarray of shape (n_in, n_out)
    b : ndarray of shape (n_out,)
        The hidden layer to recover.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    W: np.ndarray
    b: np.ndarray


def make_layer_matching(seed, n_in=10, n_out=4, n_samples=200, n_train=100, dtype=np.float64):
    """The synthetic task of the paper's section 3: recover a random dense tanh layer.

    A layer ``R^n_in -> R^n_out`` with tanh activation is drawn with PyTorch's
    ``nn.Linear`` initialisation (W and b uniform in +-1/sqrt(n_in)); ``n_samples``
    inputs are drawn uniformly from [0, 1]^n_in and mapped through it, and the
    first ``n_train`` pairs form the training set, the rest the test set.

    Parameters
    ----------
    seed : int
        Seeds everything (``numpy.random.default_rng(seed)``).
    n_in, n_out : int, default 10, 4
    n_samples : int, default 200
    n_train : int, default 100
        Size of the training split, in [1, n_samples - 1].
    dtype : {numpy.float64, numpy.float32}, default float64
        dtype of the returned arrays (the targets are computed in float64 and rounded).

    Returns
    -------
    LayerMatching
        ``(X_train, y_train, X_test, y_test, W, b)``, also available by name.

    Raises
    ------
    ValueError
        For non-positive sizes or a split that leaves one side empty.
    TypeError
        For a dtype other than float32 or float64.
    """
    for name, value in (("n_in", n_in), ("n_out", n_out), ("n_samples", n_samples), ("n_train", n_train)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if not n_train < n_samples:
        raise ValueError(f"n_train must be less than n_samples={n_samples}, got {n_train!r}")
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64, got {dtype}")
    rng = np.random.default_rng(seed)
    bound = 1.0 / np.sqrt(n_in)
    W = rng.uniform(-bound, bound, size=(n_in, n_out))
    b = rng.uniform(-bound, bound, size=n_out)
    X = rng.uniform(0.0, 1.0, size=(n_samples, n_in))
    y = np.tanh(X @ W + b)
    arrays = (X[:n_train], y[:n_train], X[n_train:], y[n_train:], W, b)
    return LayerMatching(*(np.ascontiguousarray(a, dtype=dtype) for a in arrays))
