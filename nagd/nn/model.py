"""A `Sequential` model over one flat parameter buffer and one flat gradient buffer.

Layer protocol (every layer in `nagd.nn.layers` follows it):

``build(in_shape) -> out_shape``
    Called once with the per-sample input shape (without the batch axis).
    Sets ``self.param_specs``: a list of ``(name, shape)`` of the layer's
    parameters (empty for parameter-free layers).
``bind(params, grads)``
    Receives two dicts ``name -> ndarray`` of reshaped *views* into the
    model's flat buffers. The layer keeps them; it must never rebind them.
``init(rng)``
    Fills its parameter views in place (``rng`` is a ``numpy.random.Generator``).
``forward(x, train) -> out``
    ``x`` has shape ``(batch, *in_shape)``; keeps what backward needs on ``self``.
    ``train`` switches dropout on; random layers draw from ``self.rng``, set by
    the model.
``backward(dout) -> dx``
    Writes (overwrites, not accumulates) the gradients of its parameters into
    its gradient views and returns the gradient with respect to its input.

So every optimizer updates any model with one kernel call on ``model.params``.
"""
import operator

import numpy as np

__all__ = ["Layer", "Sequential"]


class Layer:
    """Base class of layers: no parameters, identity shape."""

    param_specs = ()
    rng = None

    def build(self, in_shape):
        """Set ``param_specs`` for the per-sample input shape; return the output shape.

        Parameters
        ----------
        in_shape : tuple of int
            Shape of one input sample, without the batch axis.

        Returns
        -------
        tuple of int
        """
        self.param_specs = []
        return tuple(in_shape)

    def bind(self, params, grads):
        """Keep the views into the model's flat parameter and gradient buffers.

        Parameters
        ----------
        params, grads : dict
            ``{name: ndarray}`` of views shaped as in ``param_specs``.
        """
        self.params, self.grads = params, grads

    def init(self, rng):
        """Fill the parameter views in place.

        Parameters
        ----------
        rng : numpy.random.Generator
        """

    def __repr__(self):
        return f"{type(self).__name__}()"


class Sequential:
    """A stack of layers whose parameters live in one flat buffer.

    Parameters
    ----------
    layers : list of Layer
    input_shape : tuple of int
        Shape of one sample, without the batch axis, e.g. ``(10,)`` or ``(1, 28, 28)``.
    dtype : {numpy.float64, numpy.float32}, default float64
        dtype of the parameters, gradients and activations.
    seed : int, numpy.random.Generator or None
        Seeds the parameter initialisation and the dropout masks.

    Attributes
    ----------
    params : ndarray of shape (n_params,)
        All parameters; layers hold reshaped views into it.
    grads : ndarray of shape (n_params,)
        The gradient of the last `backward`, laid out like `params`.
    output_shape : tuple of int
    rng : numpy.random.Generator
        Used by random layers (dropout); its state is part of a checkpoint.
    fuse : bool
        Run each ``Conv2D``, optional ``Dropout2d``, ``MaxPool2D``, optional ``ReLU`` run of
        layers as one pass (`nagd.nn.layers.ConvBlock`), without writing and reading back the
        convolution's output: the separate layers' results (a first layer's parameter
        gradients to rounding, see there). True by default.
    """

    fuse = True

    def __init__(self, layers, input_shape, dtype=np.float64, seed=None):
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype must be float32 or float64, got {dtype}")
        self.layers = list(layers)
        if not self.layers:
            raise ValueError("layers must not be empty")
        self.dtype = dtype
        try:
            self.input_shape = tuple(operator.index(s) for s in input_shape)
        except TypeError:
            raise TypeError(f"input_shape must be a tuple of positive integers, got {input_shape!r}") from None
        if not all(s > 0 for s in self.input_shape):
            raise ValueError(f"input_shape must be positive integers, got {self.input_shape}")
        shape = self.input_shape
        specs = []
        for layer in self.layers:
            shape = layer.build(shape)
            specs.append(list(layer.param_specs))
        self.output_shape = tuple(shape)
        n = sum(int(np.prod(s)) for layer_specs in specs for _, s in layer_specs)
        self.params = np.zeros(n, dtype=dtype)
        self.grads = np.zeros(n, dtype=dtype)
        offset = 0
        for layer, layer_specs in zip(self.layers, specs):
            p, g = {}, {}
            for name, s in layer_specs:
                size = int(np.prod(s))
                p[name] = self.params[offset:offset + size].reshape(s)
                g[name] = self.grads[offset:offset + size].reshape(s)
                offset += size
            layer.bind(p, g)
        self.rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        for layer in self.layers:
            layer.rng = self.rng
        self.init(self.rng)

    @property
    def n_params(self):
        """Number of parameters (the length of `params`)."""
        return self.params.shape[0]

    def init(self, rng):
        """Re-initialise every layer's parameters from rng.

        Parameters
        ----------
        rng : numpy.random.Generator
        """
        for layer in self.layers:
            layer.init(rng)

    def _check_input(self, x):
        if type(x) is np.ndarray and x.dtype == self.dtype and x.shape[1:] == self.input_shape:
            return x
        x = np.asarray(x)
        if x.shape[1:] != self.input_shape:
            raise ValueError(f"x must have shape (batch, {', '.join(map(str, self.input_shape))}), got {x.shape}")
        return x.astype(self.dtype, copy=False)

    def forward(self, x, train=False):
        """Return the output for a batch.

        Parameters
        ----------
        x : array_like of shape ``(batch, *input_shape)``
            Converted to the model's dtype.
        train : bool, default False
            Train mode (dropout on).

        Returns
        -------
        ndarray of shape ``(batch, *output_shape)``, the model's dtype

        Raises
        ------
        ValueError
            If x does not have the shape ``(batch, *input_shape)``.
        """
        out = self._check_input(x)
        for step in self._steps():
            out = step.forward(out, train)
        return out

    _plan = _plan_fuse = _plan_layers = None     # the plan of `_steps`, and the fuse and layers it is for

    def _steps(self):
        """The layers, with each run that `nagd.nn.layers.ConvBlock` computes as one pass replaced by one.

        Built again when ``fuse`` or the layers change. It is asked for twice a step, so the test is
        kept cheap: a comparison of lists, which compares the layers by identity first (0.05 us, where
        a key of the layers' ids cost 0.2 us).
        """
        if self._plan_layers != self.layers or self._plan_fuse != self.fuse:
            from .layers import ConvBlock
            steps, i, layers = [], 0, self.layers
            while i < len(layers):
                k = ConvBlock.match(layers, i) if self.fuse else 0
                steps.append(ConvBlock.of(layers[i:i + k]) if k else layers[i])
                i += max(k, 1)
            self._plan, self._plan_fuse, self._plan_layers = steps, self.fuse, list(layers)
        return self._plan

    def backward(self, dout):
        """Back-propagate through the last `forward` and fill `grads`; return the input gradient.

        Parameters
        ----------
        dout : ndarray of shape ``(batch, *output_shape)``, the model's dtype
            Gradient of the loss with respect to the output.

        Returns
        -------
        ndarray of shape ``(batch, *input_shape)`` or None
            None when the first layer skips its input gradient (``Conv2D(input_grad=False)``).
        """
        for step in reversed(self._steps()):
            dout = step.backward(dout)
        return dout

    def loss_and_grad(self, x, y, loss, train=True):
        """Forward, loss and backward on one batch; fill `grads` and return the loss value.

        Parameters
        ----------
        x : array_like of shape ``(batch, *input_shape)``
        y : ndarray
            Targets, as ``loss`` expects them.
        loss : callable
            ``loss(pred, y) -> (value, dpred)``, one of `nagd.nn.losses`.
        train : bool, default True
            Train mode (dropout on).

        Returns
        -------
        float
        """
        pred = self.forward(x, train=train)
        value, dpred = loss(pred, y)
        self.backward(dpred)
        return float(value)

    def __repr__(self):
        inner = ", ".join(repr(layer) for layer in self.layers)
        return f"Sequential([{inner}], input_shape={self.input_shape}, dtype={self.dtype.name})"
