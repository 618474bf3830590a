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
import math

import numpy as np

from .. import _validation as _v
from .. import kernels

__all__ = ["Optimizer", "equivalent_alpha", "equivalent_lr"]


class Optimizer:
    """Base class: the step protocol and the Rosetta-stone readouts."""

    lower_bound = 0.0

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

    def _record(self, lr, decrease, loss):
        self.last_lr = float(lr)
        self.last_decrease = float(decrease)
        if loss is None:
            self.last_alpha = None
        else:
            self.last_alpha = float(kernels.equivalent_alpha(1.0, float(loss), float(decrease), self.lower_bound))

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

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self._hyper().items())
        return f"{type(self).__name__}({args})"

    def _hyper(self):
        return {}


def _finite_loss(loss):
    out = _v._real("loss", loss)
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
    return float(kernels.equivalent_alpha(_v.nonnegative("lr", lr), _v.finite("loss", loss),
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
    return float(kernels.equivalent_lr(_v.nonnegative("alpha", alpha), _v.finite("loss", loss),
                                       kernels.sq_norm(g), _v.finite("lower_bound", lower_bound),
                                       _v.max_lr(max_lr)))
