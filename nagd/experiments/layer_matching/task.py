"""The layer-matching task: its data, the trained layer's initial parameters and the sample order."""
import math
from typing import NamedTuple

import numpy as np

from ..._validation import positive_int
from ...nn import Dense, Sequential
from ...nn.train import minibatches

__all__ = ["LayerMatching", "make_layer_matching", "initial_params", "sample_order", "train_split", "INITS"]


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
        dtype of the returned arrays (the targets are computed in float64 and rounded; they are
        the same to the bit on every CPU).

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
        positive_int(name, value)
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
    # X @ W + b summed in a fixed order and tanh from the C math library, so the targets are the same
    # to the bit on every CPU (BLAS sums in an order chosen for the CPU, and NumPy's vectorized tanh
    # differs in the last bit between vector widths).
    z = np.repeat(b[None, :], n_samples, axis=0)
    for k in range(n_in):
        z += X[:, k:k + 1] * W[k]
    y = np.frompyfunc(math.tanh, 1, 1)(z).astype(np.float64)
    arrays = (X[:n_train], y[:n_train], X[n_train:], y[n_train:], W, b)
    return LayerMatching(*(np.ascontiguousarray(a, dtype=dtype) for a in arrays))


INITS = ("torch", "glorot")
"""Initialisations of the trained layer: PyTorch's ``nn.Linear`` default (W and b uniform in
±1/sqrt(n_in)), or Keras's ``Dense`` default (W Glorot-uniform in ±sqrt(6/(n_in + n_out)), b = 0)."""


def initial_params(seed, n_in=10, n_out=4, init="torch"):
    """The trained layer's initial parameters for a run seed: ``[W.ravel(), b]``, float64.

    ``"torch"``: drawn by ``Sequential([Dense(n_out, "tanh")], (n_in,),
    seed=numpy.random.default_rng([seed, 1]))``; ``"glorot"``: W from the same generator,
    uniform in ±sqrt(6/(n_in + n_out)), and b = 0.

    Parameters
    ----------
    seed : int
        The run's seed.
    n_in, n_out : int, default 10 and 4
        Input and output widths of the layer.
    init : {"torch", "glorot"}, default "torch"

    Returns
    -------
    ndarray of shape (n_in*n_out + n_out,), float64

    Raises
    ------
    ValueError
        For an unknown init.
    """
    if init == "torch":
        model = Sequential([Dense(n_out, "tanh")], (n_in,), seed=np.random.default_rng([seed, 1]))
        return model.params.copy()
    if init == "glorot":
        limit = np.sqrt(6.0 / (n_in + n_out))
        W = np.random.default_rng([seed, 1]).uniform(-limit, limit, size=n_in * n_out)
        return np.concatenate([W, np.zeros(n_out)])
    raise ValueError(f"init must be one of {INITS}, got {init!r}")


def sample_order(seed, n, epochs):
    """Indices of the samples visited, epoch after epoch: what `nagd.nn.train.minibatches` draws.

    Uses ``numpy.random.default_rng([seed, 2])``, one permutation of range(n) per epoch.

    Parameters
    ----------
    seed : int
        The run's seed.
    n : int
        Number of training samples.
    epochs : int

    Returns
    -------
    ndarray of shape (n*epochs,), int64
    """
    rng = np.random.default_rng([seed, 2])
    return np.concatenate([next(minibatches(n, n, rng=rng)) for _ in range(epochs)])


def train_split(data, train_on):
    """The (X, y) a run trains on: ``"train"`` (the default reading) or ``"test"`` (the paper's literal one)."""
    if train_on == "train":
        return data.X_train, data.y_train
    if train_on == "test":
        return data.X_test, data.y_test
    raise ValueError(f"train_on must be 'train' or 'test', got {train_on!r}")
