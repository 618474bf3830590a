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

from .._validation import positive_int as _positive_int
from . import conv_kernels as _ck, kernels as _k
from .model import Layer

__all__ = [
    "ACTIVATIONS", "Dense", "Tanh", "ReLU",
    "dense_forward", "dense_backward", "tanh_forward", "tanh_backward", "relu_forward", "relu_backward",
    "Conv2D", "MaxPool2D", "Dropout", "Dropout2d", "Flatten",
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
    """Return dx = dout * (1 - tanh(x)^2) for the cache of `tanh_forward`.

    Parameters
    ----------
    dout : ndarray like the output
        Gradient of the loss with respect to the output.
    cache : tuple
        From `tanh_forward`.

    Returns
    -------
    ndarray like dout
    """
    (out,) = cache
    return dout * (1.0 - out * out)


def relu_forward(x):
    """Return ``(max(x, 0), cache)``.

    Parameters
    ----------
    x : ndarray of any shape, float32 or float64

    Returns
    -------
    out : ndarray like x (C-contiguous)
        NaN stays NaN.
    cache : tuple
        The output: `relu_backward` passes the gradient where ``out > 0`` (the
        subgradient at 0 is taken as 0).
    """
    x = np.ascontiguousarray(x)
    out = np.empty_like(x)
    _k.relu(x, out)
    return out, (out,)


def relu_backward(dout, cache):
    """Return dx = dout * (x > 0) for the cache of `relu_forward`.

    Parameters
    ----------
    dout : ndarray like the output
        Gradient of the loss with respect to the output.
    cache : tuple
        From `relu_forward`.

    Returns
    -------
    ndarray like dout
    """
    (out,) = cache
    dout = np.ascontiguousarray(dout, dtype=out.dtype)
    dx = np.empty_like(out)
    _k.relu_grad(dout, out, dx)
    return dx


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

    Parameters
    ----------
    dout : ndarray of shape (n, m)
        Gradient of the loss with respect to the output.
    cache : tuple
        From `dense_forward`.

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
        self.units = _positive_int("units", units)
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

    small_size = 4096
    """Batches with ``batch * d * m`` at most this are computed by one compiled call each way
    (`nagd.nn.kernels.dense_forward_small`), larger ones by BLAS: below it the fixed cost of
    each NumPy call outweighs the arithmetic (``docs/benchmarks.md``)."""

    def bind(self, params, grads):
        super().bind(params, grads)
        self._W, self._b, self._dW, self._db = params["W"], params["b"], grads["W"], grads["b"]
        self._act = ACTIVATIONS.index(self.activation)

    def forward(self, x, train=False):
        W = self._W
        if (x.shape[0] * W.size <= self.small_size and x.dtype == W.dtype and x.ndim == 2
                and x.shape[1] == W.shape[0] and x.flags.c_contiguous):
            out = np.empty((x.shape[0], self.units), dtype=x.dtype)
            _k.dense_forward_small(x, W, self._b, self._act, out)
            self._cache = (x, out)
            return out
        out, self._cache = dense_forward(x, W, self._b, self.activation)
        return out

    def backward(self, dout):
        cache = self._cache
        if cache is None:
            raise RuntimeError("Dense: backward before forward (call forward on the batch first)")
        if len(cache) == 2:
            x, out = cache
            dout = np.ascontiguousarray(dout, dtype=out.dtype)
            if dout.shape != out.shape:
                raise ValueError(f"dout must have the output shape {out.shape}, got {dout.shape}")
            dx = np.empty(x.shape, dtype=x.dtype)
            _k.dense_backward_small(dout, x, self._W, out, self._act, self._dW, self._db, dx, True)
            return dx
        dx, dW, db = dense_backward(dout, cache)
        self._dW[...] = dW
        self._db[...] = db
        return dx

    def __repr__(self):
        return f"Dense({self.units}, activation={self.activation!r})"


class Tanh(Layer):
    """Elementwise tanh, no parameters."""

    _cache = None

    def forward(self, x, train=False):
        out, self._cache = tanh_forward(x)
        return out

    def backward(self, dout):
        if self._cache is None:
            raise RuntimeError("Tanh: backward before forward (call forward on the batch first)")
        return tanh_backward(dout, self._cache)


class ReLU(Layer):
    """Elementwise max(x, 0), no parameters (subgradient 0 at 0)."""

    _cache = None

    def forward(self, x, train=False):
        out, self._cache = relu_forward(x)
        return out

    def backward(self, dout):
        if self._cache is None:
            raise RuntimeError("ReLU: backward before forward (call forward on the batch first)")
        return relu_backward(dout, self._cache)


# ---------------------------------------------------------------------------
# Convolutional-network layers: Conv2D, MaxPool2D, Dropout, Dropout2d, Flatten.
# Images are NCHW; the hot loops are the Numba kernels of `nagd.nn.conv_kernels`.
# ---------------------------------------------------------------------------
_EMPTY = {np.dtype(np.float32): np.empty(0, np.float32), np.dtype(np.float64): np.empty(0, np.float64)}
_EMPTY_ARG = np.empty(0, np.uint8)


def _pair_of_ints(name, value):
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (value, value)
    try:
        a, b = value
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive integer or a pair of them, got {value!r}") from None
    return _positive_int(name, a), _positive_int(name, b)


def _probability(value):
    p = float(value) if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) \
        else math.nan
    if not 0.0 <= p < 1.0:
        raise ValueError(f"p must be a number in [0, 1), got {value!r}")
    return p


def _image_shape(layer, in_shape):
    if len(in_shape) != 3:
        raise ValueError(f"{layer} needs an image input shape (channels, height, width), got {tuple(in_shape)}")
    return tuple(int(s) for s in in_shape)


class Conv2D(Layer):
    """A 2-D convolution (cross-correlation, as PyTorch's ``nn.Conv2d``): valid padding, stride 1.

    ``out[n, f, y, x] = b[f] + sum_{c,i,j} W[f, c, i, j] * in[n, c, y + i, x + j]``.

    Parameters
    ----------
    filters : int
        Number of output channels F.
    kernel_size : int or (int, int)
        (kh, kw).
    input_grad : bool, default True
        Compute the gradient with respect to the input in `backward`. Set it to
        False for the first layer of a model: `backward` then returns None and
        skips a third of the work.
    init : {"uniform", "glorot"}, default "uniform"
        ``"uniform"``: W and b drawn from U(-1/sqrt(C*kh*kw), 1/sqrt(C*kh*kw))
        (PyTorch's ``nn.Conv2d`` default). ``"glorot"``: W from U(-r, r) with
        ``r = sqrt(6/((C + F)*kh*kw))``, b = 0 (Keras' default).

    Raises
    ------
    ValueError
        For a non-positive filter count or kernel size, an unknown init, or an
        input image smaller than the kernel.

    Notes
    -----
    Parameters ``W`` of shape (F, C, kh, kw) and ``b`` of shape (F,). The input
    ``(n, C, H, W)`` gives ``(n, F, H - kh + 1, W - kw + 1)``; float32 stays
    float32 (sums in float32, bias gradients in float64), float64 stays
    float64. Computed by im2col and a matrix product per chunk of a few images
    (`chunk_bytes`), except for a first layer (one input channel,
    ``input_grad=False``), which reads its input in place; the products are the
    register tiles of `nagd.nn._tiles`, whose sums have an order fixed by the
    shapes (the same bits on every CPU with FMA). An empty batch gives an empty
    output and zero parameter gradients.
    """

    def __init__(self, filters, kernel_size, input_grad=True, init="uniform"):
        self.filters = _positive_int("filters", filters)
        self.kh, self.kw = _pair_of_ints("kernel_size", kernel_size)
        self.input_grad = bool(input_grad)
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {init!r}")
        self.init_name = init
        self._x = None
        self._direct = False
        self._buffers = {}

    def _work(self, name, shape, dtype):
        """A work array kept between calls (reallocated when the batch size or dtype changes)."""
        buf = self._buffers.get(name)
        if buf is None or buf.shape != tuple(shape) or buf.dtype != dtype:
            buf = self._buffers[name] = np.empty(shape, dtype=dtype)
        return buf

    def build(self, in_shape):
        c, h, w = _image_shape("Conv2D", in_shape)
        if h < self.kh or w < self.kw:
            raise ValueError(f"Conv2D kernel {self.kh}x{self.kw} does not fit the input {h}x{w}")
        self.in_shape = (c, h, w)
        self.out_hw = (h - self.kh + 1, w - self.kw + 1)
        self.n_k = c * self.kh * self.kw
        self.param_specs = [("W", (self.filters, c, self.kh, self.kw)), ("b", (self.filters,))]
        # one input channel and no input gradient (a network's first layer): direct loops
        self._direct = c == 1 and not self.input_grad
        return (self.filters, *self.out_hw)

    def init(self, rng):
        W, b = self.params["W"], self.params["b"]
        if self.init_name == "uniform":
            bound = 1.0 / math.sqrt(self.n_k)
            W[...] = rng.uniform(-bound, bound, size=W.shape)
            b[...] = rng.uniform(-bound, bound, size=b.shape)
        else:
            bound = math.sqrt(6.0 / ((self.in_shape[0] + self.filters) * self.kh * self.kw))
            W[...] = rng.uniform(-bound, bound, size=W.shape)
            b[...] = 0.0

    chunk_bytes = 256 * 1024
    """The im2col path works on as many images at a time as fit their im2col matrix in this many
    bytes (at least one): it stays in the core's cache from its writing to the products that read
    it, in training and evaluation alike (``docs/benchmarks.md``)."""

    def _chunk(self, dtype):
        p = self.out_hw[0] * self.out_hw[1]
        return p, max(1, self.chunk_bytes // (self.n_k * p * np.dtype(dtype).itemsize))

    def forward(self, x, train=False):
        return self._forward(x)

    def _forward(self, x, pool=0, relu=False, scale=None):
        """The convolution's output; or, with pool = k > 0, ``(out, arg)``: the output of the block
        convolution, channel dropout (scale: a factor per feature map, or None), k x k max pooling and
        ReLU (when relu) computed in one pass (`ConvBlock`), and the pooling's uint8 positions of the
        maxima."""
        x = np.ascontiguousarray(x)
        n = x.shape[0]
        self._x = x
        oh, ow = self.out_hw
        shape = (n, self.filters, oh, ow) if not pool else (n, self.filters, oh // pool, ow // pool)
        out = np.empty(shape, dtype=x.dtype)
        arg = np.empty(out.size if pool else 0, dtype=np.uint8)
        scale = _EMPTY[x.dtype] if scale is None else np.ascontiguousarray(scale, dtype=x.dtype).reshape(-1)
        if n == 0:
            return (out, arg.reshape(shape)) if pool else out
        W2 = self.params["W"].reshape(self.filters, self.n_k)
        if self._direct:
            _ck.conv2d_direct_forward(x, W2, self.params["b"], self.kh, self.kw, out, pool, relu, scale, arg)
        else:
            p, chunk = self._chunk(x.dtype)
            n_cols, n_rows, _ = _ck.conv2d_work_sizes(self.n_k, self.filters, chunk, p, x.dtype)
            _ck.conv2d_forward(x, W2, self.params["b"], self.kh, self.kw, chunk,
                               self._work("cols", (n_cols,), x.dtype), self._work("rows", (n_rows,), x.dtype), out,
                               pool, relu, scale, arg)
        return (out, arg.reshape(shape)) if pool else out

    def backward(self, dout):
        return self._backward(dout)

    def _backward(self, dout, pool=0, arg=None, relu_out=None, scale=None):
        """The backward pass of `_forward` with the same pool and scale, its arg and its output as relu_out
        (when it applied ReLU)."""
        x = self._x
        if x is None:
            raise RuntimeError("Conv2D: backward before forward (call forward on the batch first)")
        n = x.shape[0]
        if n == 0:
            self.grads["W"][...] = 0.0
            self.grads["b"][...] = 0.0
            return np.empty(x.shape, dtype=x.dtype) if self.input_grad else None
        empty = _EMPTY[x.dtype]
        oh, ow = self.out_hw
        shape = (n, self.filters, oh, ow) if not pool else (n, self.filters, oh // pool, ow // pool)
        dout = np.ascontiguousarray(dout, dtype=x.dtype).reshape(shape)
        arg = _EMPTY_ARG if arg is None else arg.reshape(-1)
        relu_out = empty if relu_out is None else relu_out.reshape(-1)
        scale = empty if scale is None else np.ascontiguousarray(scale, dtype=x.dtype).reshape(-1)
        dW2 = self.grads["W"].reshape(self.filters, self.n_k)
        if self._direct:
            _ck.conv2d_direct_weight_grad(x, dout, self.kh, self.kw, dW2, self.grads["b"], pool, arg, relu_out, scale)
            return None
        p, chunk = self._chunk(x.dtype)
        n_cols, n_rows, n_dcols = _ck.conv2d_work_sizes(self.n_k, self.filters, chunk, p, x.dtype)
        if self.input_grad:
            dcols = self._work("dcols", (n_dcols,), x.dtype)
            dx = np.empty(x.shape, dtype=x.dtype)
        else:  # empty placeholders of the same types, so the kernel compiles once
            dcols = empty
            dx = np.empty((0, 0, 0, 0), dtype=x.dtype)
        _ck.conv2d_backward(x, dout, self.params["W"].reshape(self.filters, self.n_k), self.kh, self.kw, chunk,
                            self._work("cols", (n_cols,), x.dtype), self._work("dy", (n_rows,), x.dtype), dcols,
                            dW2, self.grads["b"], dx, self.input_grad, pool, arg, relu_out, scale)
        return dx if self.input_grad else None

    def __repr__(self):
        return f"Conv2D({self.filters}, kernel_size=({self.kh}, {self.kw}))"


class MaxPool2D(Layer):
    """Max pooling over non-overlapping k x k windows (stride k), as PyTorch's ``F.max_pool2d(x, k)``.

    Parameters
    ----------
    pool_size : int, default 2
        k, at most 16. Rows and columns beyond the last full window are dropped.

    Notes
    -----
    ``(n, C, H, W)`` gives ``(n, C, H // k, W // k)`` of the same dtype. The
    gradient goes to the first maximum of each window.
    """

    def __init__(self, pool_size=2):
        self.k = _positive_int("pool_size", pool_size)
        if self.k > 16:
            raise ValueError(f"pool_size must be at most 16, got {pool_size!r}")
        self._x_shape = None

    def build(self, in_shape):
        c, h, w = _image_shape("MaxPool2D", in_shape)
        if h < self.k or w < self.k:
            raise ValueError(f"MaxPool2D window {self.k}x{self.k} does not fit the input {h}x{w}")
        self.param_specs = []
        self.in_shape = (c, h, w)
        return (c, h // self.k, w // self.k)

    def forward(self, x, train=False):
        x = np.ascontiguousarray(x)
        n, c, h, w = x.shape
        out = np.empty((n, c, h // self.k, w // self.k), dtype=x.dtype)
        self._arg = np.empty(out.shape, dtype=np.uint8)
        _ck.maxpool2d_forward(x, self.k, out, self._arg)
        self._x_shape = x.shape
        return out

    def backward(self, dout):
        if self._x_shape is None:
            raise RuntimeError("MaxPool2D: backward before forward (call forward on the batch first)")
        dout = np.ascontiguousarray(dout)
        dx = np.empty(self._x_shape, dtype=dout.dtype)
        _ck.maxpool2d_backward(dout, self._arg, self.k, dx)
        return dx

    def __repr__(self):
        return f"MaxPool2D({self.k})"


class ConvBlock:
    """A `Conv2D`, an optional `Dropout2d`, a `MaxPool2D` and an optional `ReLU` run as one pass.

    `nagd.nn.model.Sequential` runs such runs of layers this way: the convolution's output goes
    through dropout, pooling and ReLU while it is still in the core's cache, and only the pooled
    maps are written; the backward pass builds the convolution's output gradient the same way.
    The outputs, input gradients and dropout masks are those of the separate layers bit for bit
    (the same roundings, the same maxima, the same masks drawn from the same generator), and so
    are the parameter gradients, except a one-channel first layer's (``kh <= 5``, ``kw <= 8``),
    summed over the windows' maxima alone: the same sums in another order, a quarter of the
    products for 2 x 2 pooling. The layers are left in the state their own forward passes would
    leave (masks, pooling positions, ReLU output), so that their own backward passes still work.

    Parameters
    ----------
    conv, dropout, pool, relu : Conv2D, Dropout2d or None, MaxPool2D, ReLU or None
    """

    def __init__(self, conv, dropout, pool, relu):
        self.conv, self.dropout, self.pool, self.relu = conv, dropout, pool, relu
        self.layers = [layer for layer in (conv, dropout, pool, relu) if layer is not None]

    @staticmethod
    def match(layers, i):
        """The number of layers from layers[i] on that form a block (0 if none)."""
        if type(layers[i]) is not Conv2D:
            return 0
        j = i + 1
        if j < len(layers) and type(layers[j]) is Dropout2d:
            j += 1
        if j >= len(layers) or type(layers[j]) is not MaxPool2D:
            return 0
        j += 1
        if j < len(layers) and type(layers[j]) is ReLU:
            j += 1
        return j - i

    @classmethod
    def of(cls, layers):
        """The block of a run of layers that `match` accepted."""
        conv, rest = layers[0], list(layers[1:])
        drop = rest.pop(0) if type(rest[0]) is Dropout2d else None
        pool = rest.pop(0)
        return cls(conv, drop, pool, rest[0] if rest else None)

    def forward(self, x, train=False):
        conv, drop, pool, relu = self.conv, self.dropout, self.pool, self.relu
        scale = None
        if drop is not None:
            drop._mask = None
            if train and drop.p != 0.0:
                if drop.rng is None:
                    raise ValueError("Dropout2d needs an rng in train mode: use it inside a Sequential")
                x = np.ascontiguousarray(x)
                drop._mask = scale = dropout_mask(drop.rng, (x.shape[0], conv.filters, 1, 1), drop.p, x.dtype)
        out, arg = conv._forward(x, pool.k, relu is not None, scale)
        pool._arg, pool._x_shape = arg, (out.shape[0], conv.filters, *conv.out_hw)
        if relu is not None:
            relu._cache = (out,)
        return out

    def backward(self, dout):
        conv, drop, pool, relu = self.conv, self.dropout, self.pool, self.relu
        if pool._x_shape is None or conv._x is None:
            raise RuntimeError("ConvBlock: backward before forward (call forward on the batch first)")
        return conv._backward(dout, pool.k, pool._arg, None if relu is None else relu._cache[0],
                              None if drop is None else drop._mask)

    def __repr__(self):
        return f"ConvBlock({', '.join(map(repr, self.layers))})"


def dropout_mask(rng, shape, p, dtype):
    """Return an inverted-dropout mask: 0 with probability p, else 1/(1 - p), of the given shape and dtype.

    Parameters
    ----------
    rng : numpy.random.Generator
    shape : tuple of int
    p : float in [0, 1)
    dtype : numpy.float32 or numpy.float64

    Returns
    -------
    ndarray of the given shape and dtype
    """
    keep = rng.random(shape, dtype=np.dtype(dtype)) >= p
    return keep.astype(dtype) * np.asarray(1.0 / (1.0 - p), dtype=dtype)


class Dropout(Layer):
    """Inverted dropout (PyTorch's ``nn.Dropout``): in train mode each element is zeroed with probability p
    and the rest are scaled by 1/(1 - p); in eval mode the identity.

    Parameters
    ----------
    p : float, default 0.5
        Drop probability in [0, 1).

    Notes
    -----
    The mask is drawn from ``self.rng`` (the model's generator), so a seeded
    model gives the same masks; it is kept for `backward`.
    """

    def __init__(self, p=0.5):
        self.p = _probability(p)
        self._mask = None

    def _shape(self, x):
        return x.shape

    def forward(self, x, train=False):
        if not train or self.p == 0.0:
            self._mask = None
            return x
        if self.rng is None:
            raise ValueError(f"{type(self).__name__} needs an rng in train mode: use it inside a Sequential")
        self._mask = dropout_mask(self.rng, self._shape(x), self.p, x.dtype)
        return self._apply(x)

    def _apply(self, x):
        return x * self._mask

    def backward(self, dout):
        return dout if self._mask is None else self._apply(dout)

    def __repr__(self):
        return f"{type(self).__name__}(p={self.p})"


class Dropout2d(Dropout):
    """Channel dropout (PyTorch's ``nn.Dropout2d``): in train mode whole feature maps ``x[n, c]`` are
    zeroed with probability p and the rest scaled by 1/(1 - p); in eval mode the identity.

    Parameters
    ----------
    p : float, default 0.5
        Drop probability in [0, 1).
    """

    def build(self, in_shape):
        _image_shape("Dropout2d", in_shape)
        return super().build(in_shape)

    def _shape(self, x):
        return (x.shape[0], x.shape[1], 1, 1)

    def _apply(self, x):
        mask = self._mask
        if type(x) is not np.ndarray or x.dtype != mask.dtype or not x.flags.c_contiguous or x.ndim < 2:
            return x * mask
        out = np.empty_like(x)
        _k.scale_maps(x, mask, out)    # one compiled pass instead of NumPy's broadcasting (3-4 times slower)
        return out


class Flatten(Layer):
    """Reshape ``(n, *shape)`` to ``(n, prod(shape))`` (C order, as PyTorch's ``x.view(n, -1)``)."""

    def build(self, in_shape):
        self.param_specs = []
        self.in_shape = tuple(int(s) for s in in_shape)
        self.size = int(np.prod(self.in_shape))
        return (self.size,)

    def forward(self, x, train=False):
        return np.ascontiguousarray(x).reshape(x.shape[0], self.size)

    def backward(self, dout):
        return dout.reshape(dout.shape[0], *self.in_shape)
