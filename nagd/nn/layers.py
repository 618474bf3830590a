"""Layers: forward/backward pairs following the protocol of `nagd.nn.model`.

Each layer comes in two forms: a pair of functions ``*_forward(...) -> (out, cache)``
and ``*_backward(dout, cache) -> gradients`` working on plain arrays, and a
`Layer` class that calls the pair on views into a `Sequential` model's flat
buffers. Arrays keep their dtype: float32 inputs and parameters give float32
outputs and gradients (NumPy's matmul accumulates in float32 then), float64
gives float64.
"""
import math

import numpy as np

from .model import Layer

__all__ = [
    "ACTIVATIONS", "Dense", "Tanh", "ReLU",
    "dense_forward", "dense_backward", "tanh_forward", "tanh_backward", "relu_forward", "relu_backward",
]

ACTIVATIONS = ("identity", "tanh", "relu")
INITS = ("uniform", "glorot")


def _activation(activation):
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
    return activation


def tanh_forward(x):
    """Return ``(tanh(x), cache)``.

    Parameters
    ----------
    x : ndarray of any shape, float32 or float64

    Returns
    -------
    out : ndarray like x
    cache : tuple
        What `tanh_backward` needs (the output).
    """
    out = np.tanh(x)
    return out, (out,)


def tanh_backward(dout, cache):
    """Return dx = dout * (1 - tanh(x)^2) for the cache of `tanh_forward`."""
    (out,) = cache
    return dout * (1.0 - out * out)


def relu_forward(x):
    """Return ``(max(x, 0), cache)``.

    Parameters
    ----------
    x : ndarray of any shape, float32 or float64

    Returns
    -------
    out : ndarray like x
    cache : tuple
        The mask ``x > 0``. The subgradient at 0 is taken as 0.
    """
    mask = x > 0
    return x * mask, (mask,)


def relu_backward(dout, cache):
    """Return dx = dout * (x > 0) for the cache of `relu_forward`."""
    (mask,) = cache
    return dout * mask


def dense_forward(x, W, b, activation="identity"):
    """Affine map followed by an activation: ``act(x @ W + b)``.

    Parameters
    ----------
    x : ndarray of shape (n, d), float32 or float64
    W : ndarray of shape (d, m), same dtype
    b : ndarray of shape (m,), same dtype
    activation : {"identity", "tanh", "relu"}

    Returns
    -------
    out : ndarray of shape (n, m)
    cache : tuple
        What `dense_backward` needs.

    Raises
    ------
    ValueError
        For an unknown activation or shapes that do not fit.
    """
    _activation(activation)
    if x.ndim != 2 or W.ndim != 2 or b.shape != (W.shape[1],) or x.shape[1] != W.shape[0]:
        raise ValueError(f"dense_forward needs x (n, d), W (d, m), b (m,), got x {x.shape}, "
                         f"W {W.shape}, b {b.shape}")
    z = x @ W + b
    if activation == "tanh":
        out, act_cache = tanh_forward(z)
    elif activation == "relu":
        out, act_cache = relu_forward(z)
    else:
        out, act_cache = z, ()
    return out, (x, W, activation, act_cache)


def dense_backward(dout, cache):
    """Gradients of `dense_forward` given ``dout`` = dL/dout of shape (n, m).

    Returns
    -------
    dx : ndarray of shape (n, d)
    dW : ndarray of shape (d, m)
    db : ndarray of shape (m,)
    """
    x, W, activation, act_cache = cache
    if activation == "tanh":
        dz = tanh_backward(dout, act_cache)
    elif activation == "relu":
        dz = relu_backward(dout, act_cache)
    else:
        dz = dout
    return dz @ W.T, x.T @ dz, dz.sum(axis=0)


class Dense(Layer):
    """A fully connected layer ``act(x @ W + b)`` with parameters ``W`` (d, m) and ``b`` (m,).

    Parameters
    ----------
    units : int
        Number of outputs m.
    activation : {"identity", "tanh", "relu"}, default "identity"
    init : {"uniform", "glorot"}, default "uniform"
        ``"uniform"``: W and b drawn from U(-1/sqrt(d), 1/sqrt(d)) (PyTorch's
        ``nn.Linear`` default). ``"glorot"``: W from U(-sqrt(6/(d+m)), sqrt(6/(d+m))),
        b = 0 (Keras' default).

    Raises
    ------
    ValueError
        For units < 1, an unknown activation or init, or a non-flat input shape.
    """

    def __init__(self, units, activation="identity", init="uniform"):
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units < 1:
            raise ValueError(f"units must be a positive integer, got {units!r}")
        self.units = int(units)
        self.activation = _activation(activation)
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {init!r}")
        self.init_name = init
        self._cache = None

    def build(self, in_shape):
        if len(in_shape) != 1:
            raise ValueError(f"Dense needs a flat input shape (d,), got {tuple(in_shape)}; add a Flatten layer")
        self.n_in = int(in_shape[0])
        self.param_specs = [("W", (self.n_in, self.units)), ("b", (self.units,))]
        return (self.units,)

    def init(self, rng):
        W, b = self.params["W"], self.params["b"]
        if self.init_name == "uniform":
            bound = 1.0 / math.sqrt(self.n_in)
            W[...] = rng.uniform(-bound, bound, size=W.shape)
            b[...] = rng.uniform(-bound, bound, size=b.shape)
        else:
            bound = math.sqrt(6.0 / (self.n_in + self.units))
            W[...] = rng.uniform(-bound, bound, size=W.shape)
            b[...] = 0.0

    def forward(self, x, train=False):
        out, self._cache = dense_forward(x, self.params["W"], self.params["b"], self.activation)
        return out

    def backward(self, dout):
        dx, dW, db = dense_backward(dout, self._cache)
        self.grads["W"][...] = dW
        self.grads["b"][...] = db
        return dx

    def __repr__(self):
        return f"Dense({self.units}, activation={self.activation!r})"


class Tanh(Layer):
    """Elementwise tanh, no parameters."""

    def forward(self, x, train=False):
        out, self._cache = tanh_forward(x)
        return out

    def backward(self, dout):
        return tanh_backward(dout, self._cache)


class ReLU(Layer):
    """Elementwise max(x, 0), no parameters (subgradient 0 at 0)."""

    def forward(self, x, train=False):
        out, self._cache = relu_forward(x)
        return out

    def backward(self, dout):
        return relu_backward(dout, self._cache)
