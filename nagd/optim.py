"""In-place optimizers on flat parameter arrays.

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

from . import _validation as _v
from . import kernels

__all__ = ["Optimizer", "NaGD", "SGD", "Adam", "RMSprop", "Adagrad", "ExpDecaySGD", "AlphaMonitoredSGD"]


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


class NaGD(Optimizer):
    r"""Norm-adapted gradient descent: a Newton-Raphson step along the gradient (the Polyak step).

    Parameters
    ----------
    alpha : float, default 1.0
        Fraction of ``f - L`` the step aims to remove, in (0, 2].
    lower_bound : float, default 0.0
        A known lower bound ``L`` of the loss (0 for non-negative losses).
    max_lr : float or None, default 1.0
        Cap on the step size; None means no cap.

    Notes
    -----
    .. math:: x \leftarrow x - \min\left(\eta_{max}, \alpha \frac{f(x) - L}{\|g\|^2}\right) g

    A zero gradient or ``f <= L`` takes no step. A ``lower_bound`` above the true
    minimum makes the iteration stall around the level set ``f = L``; one far
    below it makes the steps too long and can diverge.

    References
    ----------
    D. Sprunger, "Reparametrizing gradient descent", 2020, Algorithm 1.
    B. T. Polyak, "Introduction to optimization", 1987 (the Polyak step size).

    Examples
    --------
    >>> import numpy as np
    >>> from nagd.optim import NaGD
    >>> x, opt = np.array([3.0, -4.0]), NaGD(alpha=1.0)
    >>> f, g = 0.5 * x @ x, x.copy()       # f = |x|^2 / 2, so the step lands at 0
    >>> opt.step(x, g, f)
    0.5
    >>> x
    array([1.5, -2. ])
    """

    def __init__(self, alpha=1.0, lower_bound=0.0, max_lr=1.0):
        super().__init__()
        self.alpha = _v.alpha(alpha)
        self.lower_bound = _v.finite("lower_bound", lower_bound)
        self.max_lr = _v.max_lr(max_lr)

    def _hyper(self):
        return {"alpha": self.alpha, "lower_bound": self.lower_bound,
                "max_lr": None if math.isinf(self.max_lr) else self.max_lr}

    def step(self, params, grad, loss):
        """Update params in place; return the learning rate used (0.0 for no step)."""
        _v.flat_pair(params, grad)
        loss = float(loss)
        gg = kernels.sq_norm(grad)
        lr = kernels.nagd_lr(gg, loss, self.lower_bound, self.alpha, self.max_lr)
        if lr > 0.0:
            kernels.axpy(params, grad, lr)
        self.t += 1
        self._record(lr, lr * gg, loss)
        return lr


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum, PyTorch's convention.

    Parameters
    ----------
    lr : float, default 1e-3
        Learning rate.
    momentum : float, default 0.0
        Momentum factor mu in [0, 1).
    nesterov : bool, default False
        Use Nesterov momentum (needs momentum > 0).
    lower_bound : float, default 0.0
        Only used to report the equivalent alpha.

    Notes
    -----
    ``b <- mu*b + g``; ``x <- x - lr*b`` (classical) or ``x <- x - lr*(g + mu*b)`` (Nesterov).

    Examples
    --------
    >>> import numpy as np
    >>> from nagd.optim import SGD
    >>> x = np.array([1.0, 2.0])
    >>> SGD(lr=0.1).step(x, np.array([1.0, 1.0]))
    0.1
    >>> x
    array([0.9, 1.9])
    """

    _state_names = ("momentum_buffer",)

    def __init__(self, lr=1e-3, momentum=0.0, nesterov=False, lower_bound=0.0):
        super().__init__()
        self.lr = _v.positive("lr", lr)
        self.momentum = _v.unit("momentum", momentum)
        if nesterov and self.momentum == 0.0:
            raise ValueError("nesterov=True needs momentum > 0, got momentum=0")
        self.nesterov = bool(nesterov)
        self.lower_bound = _v.finite("lower_bound", lower_bound)
        self.momentum_buffer = None

    def _hyper(self):
        return {"lr": self.lr, "momentum": self.momentum, "nesterov": self.nesterov}

    def _lr(self):
        return self.lr

    def step(self, params, grad, loss=None):
        """Update params in place; return the learning rate used."""
        _v.flat_pair(params, grad)
        lr = self._lr()
        if self.momentum == 0.0:
            dec = kernels.sgd_step(params, grad, lr)
        else:
            (buf,) = self._state(params, 1)
            dec = kernels.sgd_momentum_step(params, grad, buf, lr, self.momentum, self.nesterov)
        self.t += 1
        self._record(lr, dec, loss)
        self._after_step()
        return lr

    def _after_step(self):
        pass


class ExpDecaySGD(SGD):
    """SGD with the learning rate ``lr0 * exp(-rate * t)`` at step t = 0, 1, 2, ... (section 3.3).

    Parameters
    ----------
    lr0 : float
        Learning rate of the first step.
    rate : float
        Decay rate per step (>= 0).
    momentum, nesterov, lower_bound
        As in `SGD`.
    """

    def __init__(self, lr0, rate, momentum=0.0, nesterov=False, lower_bound=0.0):
        super().__init__(lr=lr0, momentum=momentum, nesterov=nesterov, lower_bound=lower_bound)
        self.lr0 = self.lr
        self.rate = _v.nonnegative("rate", rate)

    def _hyper(self):
        return {"lr0": self.lr0, "rate": self.rate}

    def _lr(self):
        return self.lr0 * math.exp(-self.rate * self.t)


class AlphaMonitoredSGD(SGD):
    """SGD that cuts its learning rate when the equivalent alpha stays high (section 3.3, "alpha100").

    After each step, if the step's equivalent alpha is ``>= threshold`` for
    ``patience`` consecutive steps, the learning rate is multiplied by
    ``factor`` and the count starts again.

    Parameters
    ----------
    lr : float, default 0.1
        Initial learning rate.
    threshold : float, default 2.0
    patience : int, default 3
    factor : float, default 1/3
        In (0, 1).
    momentum, nesterov, lower_bound
        As in `SGD`.
    """

    def __init__(self, lr=0.1, threshold=2.0, patience=3, factor=1.0 / 3.0, momentum=0.0,
                 nesterov=False, lower_bound=0.0):
        super().__init__(lr=lr, momentum=momentum, nesterov=nesterov, lower_bound=lower_bound)
        self.lr_init = self.lr
        self.threshold = _v.positive("threshold", threshold)
        if isinstance(patience, bool) or not isinstance(patience, (int, np.integer)) or patience < 1:
            raise ValueError(f"patience must be a positive integer, got {patience!r}")
        self.patience = int(patience)
        self.factor = _v.positive("factor", factor)
        if not self.factor < 1.0:
            raise ValueError(f"factor must be in (0, 1), got {factor!r}")
        self.count = 0

    def _hyper(self):
        return {"lr": self.lr_init, "threshold": self.threshold, "patience": self.patience,
                "factor": self.factor}

    def reset(self):
        super().reset()
        self.lr = self.lr_init
        self.count = 0

    def step(self, params, grad, loss):
        """Update params in place; return the learning rate used. ``loss`` is required."""
        if loss is None:
            raise ValueError("loss is required: AlphaMonitoredSGD watches the equivalent alpha")
        return super().step(params, grad, loss)

    def _after_step(self):
        if self.last_alpha >= self.threshold:
            self.count += 1
            if self.count >= self.patience:
                self.lr *= self.factor
                self.count = 0
        else:
            self.count = 0


class Adam(Optimizer):
    """Adam (Kingma & Ba), PyTorch's form with bias correction.

    Parameters
    ----------
    lr : float, default 1e-3
    betas : (float, float), default (0.9, 0.999)
    eps : float, default 1e-8
    lower_bound : float, default 0.0
        Only used to report the equivalent alpha.
    """

    _state_names = ("m", "v")

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, lower_bound=0.0):
        super().__init__()
        self.lr, self.eps = _v.positive("lr", lr), _v.positive("eps", eps)
        try:
            b1, b2 = betas
        except (TypeError, ValueError):
            raise ValueError(f"betas must be a pair of numbers in [0, 1), got {betas!r}") from None
        self.beta1, self.beta2 = _v.unit("betas[0]", b1), _v.unit("betas[1]", b2)
        self.lower_bound = _v.finite("lower_bound", lower_bound)
        self.m = self.v = None

    def _hyper(self):
        return {"lr": self.lr, "betas": (self.beta1, self.beta2), "eps": self.eps}

    def step(self, params, grad, loss=None):
        """Update params in place; return the learning rate used."""
        _v.flat_pair(params, grad)
        m, v = self._state(params, 2)
        self.t += 1
        dec = kernels.adam_step(params, grad, m, v, self.t, self.lr, self.beta1, self.beta2, self.eps)
        self._record(self.lr, dec, loss)
        return self.lr


class RMSprop(Optimizer):
    """RMSprop (Tieleman & Hinton), PyTorch's form (no centering, no momentum).

    Parameters
    ----------
    lr : float, default 1e-2
    alpha : float, default 0.99
        Smoothing constant of the squared-gradient average (PyTorch's name; not NaGD's alpha).
    eps : float, default 1e-8
    lower_bound : float, default 0.0
        Only used to report the equivalent alpha.
    """

    _state_names = ("v",)

    def __init__(self, lr=1e-2, alpha=0.99, eps=1e-8, lower_bound=0.0):
        super().__init__()
        self.lr, self.eps = _v.positive("lr", lr), _v.positive("eps", eps)
        self.alpha = _v.unit("alpha", alpha)
        self.lower_bound = _v.finite("lower_bound", lower_bound)
        self.v = None

    def _hyper(self):
        return {"lr": self.lr, "alpha": self.alpha, "eps": self.eps}

    def step(self, params, grad, loss=None):
        """Update params in place; return the learning rate used."""
        _v.flat_pair(params, grad)
        (v,) = self._state(params, 1)
        self.t += 1
        dec = kernels.rmsprop_step(params, grad, v, self.lr, self.alpha, self.eps)
        self._record(self.lr, dec, loss)
        return self.lr


class Adagrad(Optimizer):
    """Adagrad (Duchi et al.), PyTorch's form (no lr decay, zero initial accumulator).

    Parameters
    ----------
    lr : float, default 1e-2
    eps : float, default 1e-10
    lower_bound : float, default 0.0
        Only used to report the equivalent alpha.
    """

    _state_names = ("sum",)

    def __init__(self, lr=1e-2, eps=1e-10, lower_bound=0.0):
        super().__init__()
        self.lr, self.eps = _v.positive("lr", lr), _v.positive("eps", eps)
        self.lower_bound = _v.finite("lower_bound", lower_bound)
        self.sum = None

    def _hyper(self):
        return {"lr": self.lr, "eps": self.eps}

    def step(self, params, grad, loss=None):
        """Update params in place; return the learning rate used."""
        _v.flat_pair(params, grad)
        (s,) = self._state(params, 1)
        self.t += 1
        dec = kernels.adagrad_step(params, grad, s, self.lr, self.eps)
        self._record(self.lr, dec, loss)
        return self.lr


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
