"""The optimizer protocol, the checks every optimizer shares, and the equivalent alpha / lr.

Every optimizer follows one protocol::

    lr = opt.step(params, grad, loss)   # params updated in place; returns the lr used
    opt.last_lr, opt.last_alpha         # the step's learning rate and equivalent alpha
    opt.reset()                         # forget the state (moments, step count)

``params`` and ``grad`` are contiguous 1-D float32 or float64 arrays of one
shape and dtype; state arrays are created on the first step with that shape
and dtype. Scalars (``loss``, learning rates, norms) are Python floats
(float64); arithmetic on float32 parameters rounds each update to float32.

The *equivalent alpha* of a step is the fraction of ``loss - lower_bound``
that the first-order model ``f(x - d) ~ f(x) - g.d`` predicts the step ``d``
removes: ``g.d / (loss - lower_bound)``. For NaGD it equals ``alpha`` unless
the step is capped by ``max_lr``. It is ``None`` when no ``loss`` is given.
"""
import functools
import inspect
import math

import numpy as np

from .. import _validation as _v
from .. import kernels

__all__ = ["Optimizer", "as_loss", "equivalent_alpha", "equivalent_lr"]


class _Declared:
    """Records each instance's constructor arguments, so that repr is derived from the signature.

    A subclass declares its hyperparameters once, as the parameters of its ``__init__``; the
    arguments it was built with (defaults filled in) are kept in ``_arguments`` and printed by
    ``repr`` in signature order, so ``eval(repr(obj))`` builds an equal object.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is None:
            return
        signature = inspect.signature(init)

        @functools.wraps(init)
        def __init__(self, *args, **kw):
            if type(self).__init__ is __init__:          # the outermost constructor only
                bound = signature.bind(self, *args, **kw)
                bound.apply_defaults()
                self._arguments = dict(list(bound.arguments.items())[1:])
            init(self, *args, **kw)

        cls.__init__ = __init__

    def __repr__(self):
        args = ", ".join(f"{k}={_literal(v)}" for k, v in getattr(self, "_arguments", {}).items())
        return f"{type(self).__name__}({args})"


def _literal(value):
    """repr of a constructor argument, NumPy scalars as Python numbers (so the repr evaluates without numpy)."""
    if isinstance(value, np.bool_):
        return repr(bool(value))
    if isinstance(value, np.integer):
        return repr(int(value))
    if isinstance(value, np.floating):
        return repr(float(value))
    if isinstance(value, tuple):
        inner = ", ".join(_literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    return repr(value)


class Optimizer(_Declared):
    """Base class: the step protocol, the Rosetta-stone readouts, and repr from the constructor's arguments."""

    lower_bound = 0.0
    check_finite = False
    _checkpoint_defaults = ("check_finite",)   # may be absent from older checkpoints: the config rebuilds it

    def __init__(self):
        self.t = 0
        self.last_lr = None
        self.last_alpha = None
        self.last_decrease = None

    def reset(self):
        """Forget all state: step count, moment arrays and readouts."""
        self.t = 0
        self.last_lr = self.last_alpha = self.last_decrease = None
        for name in self._state_names:
            setattr(self, name, None)

    _state_names = ()

    def _begin(self, params, grad, loss):
        """Check the arrays and convert the loss (None stays None) before anything changes; return the loss.

        With ``check_finite`` a NaN or infinite loss or gradient raises ValueError here.
        """
        _v.flat_pair(params, grad)
        if loss is not None:
            loss = as_loss(loss)
        if self.check_finite:
            if loss is not None and not math.isfinite(loss):
                raise ValueError(f"loss must be a finite number, got {loss!r} (check_finite=True)")
            _finite_sq_norm(kernels.sq_norm(grad))
        return loss

    def _record(self, lr, decrease, loss):
        self.last_lr = float(lr)
        self.last_decrease = float(decrease)
        if loss is None:
            self.last_alpha = None
        else:
            self.last_alpha = float(kernels.equivalent_alpha(1.0, loss, float(decrease), self.lower_bound))

    def _state(self, params, n):
        """Create (on first use) and return n zero state arrays shaped like params."""
        arrays = [getattr(self, name) for name in self._state_names[:n]]
        if arrays[0] is None or arrays[0].shape != params.shape or arrays[0].dtype != params.dtype:
            if arrays[0] is not None and self.t > 0:
                raise ValueError(
                    f"params changed from shape {arrays[0].shape} {arrays[0].dtype} to "
                    f"{params.shape} {params.dtype}; call reset() first"
                )
            arrays = [np.zeros_like(params) for _ in range(n)]
            for name, a in zip(self._state_names, arrays):
                setattr(self, name, a)
        return arrays


def as_loss(loss):
    """Return a loss as a Python float: a real number or any one-element real array, as `nagd.minimize` accepts.

    Parameters
    ----------
    loss : float, int, NumPy scalar or array_like of size 1

    Returns
    -------
    float

    Raises
    ------
    TypeError
        For a non-real value (complex, string, object).
    ValueError
        For an array of more than one element.
    """
    arr = np.asarray(loss)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"loss must be a real number, got {loss!r}")
    if arr.size != 1:
        raise ValueError(f"loss must be a scalar or a one-element array, got an array of shape {arr.shape}")
    return float(arr.reshape(()))


def _finite_loss(loss):
    out = as_loss(loss)
    if not math.isfinite(out):
        raise ValueError(f"loss must be a finite number, got {loss!r}")
    return out


def _finite_sq_norm(gg):
    if not math.isfinite(gg):
        raise ValueError(f"grad must be finite, got a squared norm of {gg!r}")
    return gg


def equivalent_alpha(lr, loss, grad, lower_bound=0.0):
    """Return the equivalent NaGD alpha of a plain gradient step of size lr.

    Parameters
    ----------
    lr : float
        Learning rate of the step.
    loss : float
        f(x) before the step.
    grad : ndarray of shape (n,), float32 or float64
        Gradient at x.
    lower_bound : float, default 0.0

    Returns
    -------
    float
        ``lr * ||grad||^2 / (loss - lower_bound)``; 0.0 for a zero step and
        ``inf`` for a non-zero step when ``loss <= lower_bound``.
    """
    g = np.ascontiguousarray(grad, dtype=np.float64).ravel()
    return float(kernels.equivalent_alpha(_v.nonnegative("lr", lr), _finite_loss(loss),
                                          kernels.sq_norm(g), _v.finite("lower_bound", lower_bound)))


def equivalent_lr(alpha, loss, grad, lower_bound=0.0, max_lr=None):
    """Return the learning rate of the NaGD step with this alpha (the equivalent lr).

    Parameters
    ----------
    alpha : float
    loss : float
        f(x) at the step.
    grad : ndarray of shape (n,), float32 or float64
    lower_bound : float, default 0.0
    max_lr : float or None, default None
        Cap applied by the step; None for none.

    Returns
    -------
    float
        ``min(max_lr, alpha * (loss - lower_bound) / ||grad||^2)``; 0.0 when the
        gradient is zero or ``loss <= lower_bound``.
    """
    g = np.ascontiguousarray(grad, dtype=np.float64).ravel()
    return float(kernels.equivalent_lr(_v.nonnegative("alpha", alpha), _finite_loss(loss),
                                       kernels.sq_norm(g), _v.finite("lower_bound", lower_bound),
                                       _v.max_lr(max_lr)))
