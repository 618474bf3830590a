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

    A zero gradient or ``f <= L`` takes no step; a NaN or infinite loss or gradient
    raises ValueError (the edge-case policy of the Polyak family). A ``lower_bound`` above the true
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
    >>> f, g = 0.5 * x @ x, x.copy()       # f = |x|^2 / 2: lr = f/|g|^2 = 0.5 halves x
    >>> opt.step(x, g, f)
    0.5
    >>> x
    array([ 1.5, -2. ])
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
        """Update params in place; return the learning rate used (0.0 for no step).

        Parameters
        ----------
        params : ndarray of shape (n,), float32 or float64
            Updated in place.
        grad : ndarray of shape (n,), same dtype
            Gradient of the loss at params.
        loss : float
            The loss at params.

        Returns
        -------
        float
        """
        _v.flat_pair(params, grad)
        loss = _finite_loss(loss)
        gg = _finite_sq_norm(kernels.sq_norm(grad))
        lr = kernels.polyak_lr(gg, loss - self.lower_bound, self.alpha, self.max_lr, 0.0)
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
        """Update params in place; return the learning rate used.

        Parameters
        ----------
        params : ndarray of shape (n,), float32 or float64
            Updated in place.
        grad : ndarray of shape (n,), same dtype
            Gradient of the loss at params.
        loss : float or None
            The loss at params: only for the readout `last_alpha` (None leaves it None).

        Returns
        -------
        float
        """
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
        self.patience = _v.positive_int("patience", patience)
        self.factor = _v.positive("factor", factor)
        if not self.factor < 1.0:
            raise ValueError(f"factor must be in (0, 1), got {factor!r}")
        self.count = 0

    def _hyper(self):
        return {"lr": self.lr_init, "threshold": self.threshold, "patience": self.patience,
                "factor": self.factor}

    def reset(self):
        """Forget all state and return to the initial learning rate."""
        super().reset()
        self.lr = self.lr_init
        self.count = 0

    def step(self, params, grad, loss):
        """Update params in place; return the learning rate used.

        Parameters
        ----------
        params : ndarray of shape (n,), float32 or float64
            Updated in place.
        grad : ndarray of shape (n,), same dtype
            Gradient of the loss at params.
        loss : float
            The loss at params (required: it gives the equivalent alpha).

        Returns
        -------
        float
        """
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
        """Update params in place; return the learning rate used.

        Parameters
        ----------
        params : ndarray of shape (n,), float32 or float64
            Updated in place.
        grad : ndarray of shape (n,), same dtype
            Gradient of the loss at params.
        loss : float or None
            The loss at params: only for the readout `last_alpha` (None leaves it None).

        Returns
        -------
        float
        """
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
        """Update params in place; return the learning rate used.

        Parameters
        ----------
        params : ndarray of shape (n,), float32 or float64
            Updated in place.
        grad : ndarray of shape (n,), same dtype
            Gradient of the loss at params.
        loss : float or None
            The loss at params: only for the readout `last_alpha` (None leaves it None).

        Returns
        -------
        float
        """
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
        """Update params in place; return the learning rate used.

        Parameters
        ----------
        params : ndarray of shape (n,), float32 or float64
            Updated in place.
        grad : ndarray of shape (n,), same dtype
            Gradient of the loss at params.
        loss : float or None
            The loss at params: only for the readout `last_alpha` (None leaves it None).

        Returns
        -------
        float
        """
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


# ---------------------------------------------------------------------------
# The Polyak family: one edge-case policy, momentum, model-based steps, an
# unknown minimum, per-step lower bounds and an optional per-step record.
#
# Edge-case policy, shared by every class below:
#   * the step size is min(max_lr, alpha*(f - L)/(||g||^2 + eps)), computed in
#     float64 from a float64 squared norm whatever the dtype of params;
#   * a zero gradient (||g||^2 == 0, whatever eps) gives a zero step size; a
#     ratio that overflows gives max_lr, or no step when uncapped (max_lr=None);
#     never inf or NaN;
#   * f <= L is handled by `below`: "clip" (default) takes the positive part
#     max(f - L, 0) as SPS+ does, so the step size is zero but momentum terms
#     still move the parameters; "skip" leaves params and state untouched;
#     "raise" skips when f == L and raises LowerBoundError when f < L;
#   * a non-finite loss or gradient raises ValueError; params and state are
#     left untouched.
# ---------------------------------------------------------------------------

__all__ += ["LowerBoundError", "LevelBound", "PolyakSGD", "ALIG", "MoMo", "MoMoAdam", "HISTORY_FIELDS"]

#: Keys of ``opt.history`` when an optimizer is built with ``record=True``.
HISTORY_FIELDS = ("ratio", "lr", "capped", "gap", "grad_sq_norm", "alpha", "eq_lr", "lower_bound")

_BELOW = ("clip", "skip", "raise")
_FLOAT_MAX = float(np.finfo(np.float64).max)   # as max_lr: the uncapped ratio of the record
_EPS = 4.0 * float(np.finfo(np.float64).eps)


class LowerBoundError(ValueError):
    """The loss fell below the optimizer's lower bound (raised when ``below="raise"``)."""


class LevelBound:
    """Online estimate of an unknown minimum: a target level below the best loss seen.

    Each step aims at the level ``f_best - delta``. After the step, the
    decrease it achieved is compared with the decrease its first-order model
    predicted (``g . (x_old - x_new)``): below ``low`` times the prediction the
    step overshot, the level was too low, and ``delta`` shrinks by ``shrink``;
    above ``high`` times the prediction the model was still accurate, so the
    level can go lower and ``delta`` grows by ``grow``. The first ``delta`` is
    ``delta0 * |f(x_0)|`` (``delta0`` when ``f(x_0) == 0``). A step of size
    zero because ``f <= level`` also grows ``delta``, and ``delta`` never falls
    below ``4 eps |f_best|``, so the level never sticks to the loss.

    Only differences of losses enter after the first step, so adding a
    constant to the loss changes nothing but the first offset, and scaling
    the loss scales every offset. With minibatches the achieved decrease is
    measured on the next batch, which makes the test noisy when batch losses
    vary a lot.

    It keeps state: give each optimizer its own instance.

    Parameters
    ----------
    delta0 : float, default 0.1
        First offset, relative to ``|f(x_0)|``.
    low, high : float, default 0.5, 0.75
        Bounds, 0 < low < high, of the achieved/predicted decrease ratio that
        keeps ``delta``. For the exact Polyak step on an isotropic quadratic the
        ratio is ``1 - alpha/2``.
    grow : float, default 1.5
        Factor (> 1) applied to delta when the ratio is above ``high``.
    shrink : float, default 0.5
        Factor in (0, 1) applied to delta when the ratio is below ``low``.

    Notes
    -----
    A level method in the spirit of Polyak's step with an estimated optimal
    value (Nedić and Bertsekas), with the trust-region test on the ratio of
    achieved to predicted decrease deciding whether the level goes up or down.

    References
    ----------
    A. Nedić, D. P. Bertsekas, "Incremental subgradient methods for
    nondifferentiable optimization", SIAM J. Optim. 12(1), 2001.
    J. Nocedal, S. J. Wright, "Numerical Optimization", 2006, Algorithm 4.1 (the ratio test).
    """

    def __init__(self, delta0=0.1, low=0.5, high=0.75, grow=1.5, shrink=0.5):
        self.delta0 = _v.positive("delta0", delta0)
        self.low, self.high = _v.positive("low", low), _v.positive("high", high)
        if not self.low < self.high:
            raise ValueError(f"low must be below high, got low={low!r}, high={high!r}")
        self.grow = _v.positive("grow", grow)
        if not self.grow > 1.0:
            raise ValueError(f"grow must be > 1, got {grow!r}")
        self.shrink = _v.positive("shrink", shrink)
        if not self.shrink < 1.0:
            raise ValueError(f"shrink must be in (0, 1), got {shrink!r}")
        self.reset()

    def reset(self):
        """Forget the best loss, the last loss and the offset."""
        self.best = self.delta = self.level = self.last_loss = None

    def __call__(self, loss, predicted):
        """Return the level for this step.

        Parameters
        ----------
        loss : float
            The loss at the current point.
        predicted : float or None
            First-order decrease ``g . (x_old - x_new)`` the previous step
            predicted (None before the first step).

        Returns
        -------
        float
            ``f_best - delta``.
        """
        if self.best is None:
            self.best = loss
            self.delta = self.delta0 * (abs(loss) if loss != 0.0 else 1.0)
        else:
            if predicted is not None and predicted > 0.0:
                ratio = (self.last_loss - loss) / predicted
                if ratio < self.low:
                    self.delta *= self.shrink
                elif ratio > self.high:
                    self.delta *= self.grow
            elif predicted is not None and self.last_loss <= self.level:
                self.delta *= self.grow                  # no step because f <= level: lower the level
            self.best = min(self.best, loss)
            self.delta = max(self.delta, _EPS * abs(self.best))   # stays resolvable below f_best
        self.last_loss = loss
        self.level = self.best - self.delta
        return self.level

    def __repr__(self):
        return (f"LevelBound(delta0={self.delta0!r}, low={self.low!r}, high={self.high!r}, "
                f"grow={self.grow!r}, shrink={self.shrink!r})")


def _below(value):
    if value not in _BELOW:
        raise ValueError(f"below must be one of {_BELOW}, got {value!r}")
    return value


def _step_bound(lower_bound):
    """A per-step lower bound: a number, or the per-sample minima of the batch (their mean)."""
    if np.ndim(lower_bound) == 0:
        return _v.finite("lower_bound", lower_bound)
    fi = np.asarray(lower_bound, dtype=np.float64)
    if fi.size == 0 or not np.all(np.isfinite(fi)):
        raise ValueError(f"lower_bound must hold finite per-sample minima, got {lower_bound!r}")
    return float(fi.mean())


class _PolyakOptimizer(Optimizer):
    """Shared parts of the Polyak family: the bound, the f <= L policy and the record."""

    def _common(self, lower_bound, below, record):
        if isinstance(lower_bound, str):
            if lower_bound != "auto":
                raise ValueError(f"lower_bound must be a finite number or 'auto', got {lower_bound!r}")
            lower_bound = LevelBound()
        if isinstance(lower_bound, LevelBound):
            self.level = lower_bound
            self.lower_bound = "auto"
        else:
            self.level = None
            self.lower_bound = _v.finite("lower_bound", lower_bound)
        self.below = _below(below)
        self.record = bool(record)
        self.history = {k: [] for k in HISTORY_FIELDS} if self.record else None

    def reset(self):
        """Forget all state, the lower-bound estimate and the record."""
        super().reset()
        if self.level is not None:
            self.level.reset()
        if self.record:
            self.history = {k: [] for k in HISTORY_FIELDS}

    def _bound(self, loss, lower_bound):
        if lower_bound is not None:
            return _step_bound(lower_bound)
        if self.level is not None:
            return self.level(loss, self.last_decrease)
        return self.lower_bound

    def _blocked(self, loss, bound):
        """Apply the f <= L policy: True when the step must be skipped."""
        if loss > bound or self.below == "clip":
            return False
        if self.below == "raise" and loss < bound:
            raise LowerBoundError(
                f"loss {loss!r} is below lower_bound {bound!r}: the bound is wrong (below='raise')")
        return True

    def _capped_step(self, params, grad, loss, lower_bound):
        """The step of `PolyakSGD` and `ALIG`; their ``_momentum_step`` moves params when momentum > 0."""
        _v.flat_pair(params, grad)
        loss = _finite_loss(loss)
        gg = _finite_sq_norm(kernels.sq_norm(grad))
        bound = self._bound(loss, lower_bound)
        gap = loss - bound
        ratio = kernels.polyak_lr(gg, gap, self.alpha, _FLOAT_MAX, self.eps)
        if self._blocked(loss, bound):
            return self._finish(0.0, 0.0, loss, bound, gg, ratio, False)
        lr = kernels.polyak_lr(gg, gap, self.alpha, self.max_lr, self.eps)
        if self.momentum == 0.0:
            if lr > 0.0:
                kernels.axpy(params, grad, lr)
            dec = lr * gg
        else:
            dec = self._momentum_step(params, grad, lr, gg)
        return self._finish(lr, dec, loss, bound, gg, ratio, ratio > self.max_lr)

    def _finish(self, lr, dec, loss, bound, gg, ratio, capped):
        self.t += 1
        self.last_lr = float(lr)
        self.last_decrease = float(dec)
        self.last_alpha = float(kernels.equivalent_alpha(1.0, loss, float(dec), bound))
        if self.history is not None:
            h = self.history
            h["ratio"].append(float(ratio))
            h["lr"].append(float(lr))
            h["capped"].append(bool(capped))
            h["gap"].append(loss - bound)
            h["grad_sq_norm"].append(float(gg))
            h["alpha"].append(self.last_alpha)
            h["eq_lr"].append(float(dec) / gg if gg > 0.0 else 0.0)
            h["lower_bound"].append(bound)
        return lr


def _finite_loss(loss):
    out = _v._real("loss", loss)
    if not math.isfinite(out):
        raise ValueError(f"loss must be a finite number, got {loss!r}")
    return out


def _finite_sq_norm(gg):
    if not math.isfinite(gg):
        raise ValueError(f"grad must be finite, got a squared norm of {gg!r}")
    return gg


def _momo_stats(stats):
    """Unpack [x.g, x.d, |d|^2_D, g.D^-1 d]; a non-finite entry means params too large (the grad was checked)."""
    out = tuple(float(s) for s in stats)
    if not all(math.isfinite(v) for v in out):
        raise ValueError("params must be finite and of moderate size: <x, g> overflowed; call reset()")
    return out


class PolyakSGD(_PolyakOptimizer):
    r"""The Polyak (NaGD) step with heavy-ball momentum, an edge-case policy and an unknown minimum.

    Parameters
    ----------
    alpha : float, default 1.0
        Fraction of ``f - L`` a step aims to remove, in (0, 2]. SPS's ``c`` is ``1/alpha``.
    lower_bound : float, "auto" or LevelBound, default 0.0
        Known lower bound ``L`` of the loss; ``"auto"`` estimates it online with
        a `LevelBound` (for losses whose minimum is unknown).
    max_lr : float or None, default 1.0
        Cap on the step size (SPS's ``gamma_b``); None means uncapped.
    momentum : float, default 0.0
        Heavy-ball factor mu in [0, 1).
    eps : float, default 0.0
        Added to ``||g||^2`` in the step size (jaxopt's ``delta``, optax's ``eps``).
    below : {"clip", "skip", "raise"}, default "clip"
        What to do when ``f <= L`` (see the section comment of this module).
    record : bool, default False
        Keep a per-step record in ``history`` (keys `HISTORY_FIELDS`).

    Notes
    -----
    .. math::

        \eta_t = \min\left(\eta_{max}, \frac{\alpha (f(x_t) - L)_+}{\|g_t\|^2 + \epsilon}\right),
        \quad v_{t+1} = \mu v_t - \eta_t g_t, \quad x_{t+1} = x_t + v_{t+1}

    With ``momentum=0``, ``eps=0`` it is `NaGD`; with ``alpha=1``, ``L=0`` it
    is jaxopt's ``PolyakSGD(max_stepsize=max_lr, delta=eps, momentum=mu)``.
    ``step`` also accepts a per-step ``lower_bound``: a number, or the known
    minima ``f_i*`` of the samples of the batch (their mean is used, so
    ``loss`` must be the batch mean), as SPS does.

    A wrong ``lower_bound`` stalls (too high) or makes steps too long (too
    low); use ``"auto"`` when the minimum is unknown.

    ``params`` may be float32 or float64: the squared norm, the gap and the
    step size are float64, and each update is rounded once to the dtype of
    ``params``.

    References
    ----------
    B. T. Polyak, "Introduction to optimization", 1987, section 5.3.
    N. Loizou, S. Vaswani, I. Laradji, S. Lacoste-Julien, "Stochastic Polyak
    step-size for SGD", AISTATS 2021 (SPS_max).
    google/jaxopt, ``jaxopt/_src/polyak_sgd.py`` (``PolyakSGD``);
    google-deepmind/optax, ``optax/_src/transform.py`` (``scale_by_polyak``).

    Examples
    --------
    >>> import numpy as np
    >>> from nagd.optim import PolyakSGD
    >>> x, opt = np.array([3.0, -4.0]), PolyakSGD(alpha=1.0, momentum=0.5)
    >>> opt.step(x, x.copy(), 0.5 * x @ x)
    0.5
    >>> x
    array([ 1.5, -2. ])
    """

    _state_names = ("velocity",)

    def __init__(self, alpha=1.0, lower_bound=0.0, max_lr=1.0, momentum=0.0, eps=0.0,
                 below="clip", record=False):
        super().__init__()
        self.alpha = _v.alpha(alpha)
        self.max_lr = _v.max_lr(max_lr)
        self.momentum = _v.unit("momentum", momentum)
        self.eps = _v.nonnegative("eps", eps)
        self.velocity = None
        self._common(lower_bound, below, record)

    def _hyper(self):
        return {"alpha": self.alpha, "lower_bound": self.lower_bound,
                "max_lr": None if math.isinf(self.max_lr) else self.max_lr,
                "momentum": self.momentum, "eps": self.eps, "below": self.below}

    def step(self, params, grad, loss, lower_bound=None):
        """Update params in place; return the step size used (0.0 for none).

        Parameters
        ----------
        params : ndarray of shape (n,), float32 or float64
            Updated in place.
        grad : ndarray of shape (n,), same dtype
            Gradient of the loss at params.
        loss : float
            The loss at params (for a minibatch: the batch mean).
        lower_bound : float, array_like of shape (batch,), or None
            Overrides the bound for this step: a number, or the known minima
            ``f_i*`` of the batch's samples (their mean is used).

        Returns
        -------
        float
        """
        return self._capped_step(params, grad, loss, lower_bound)

    def _momentum_step(self, params, grad, lr, gg):
        (v,) = self._state(params, 1)
        gv = kernels.dot(grad, v)
        kernels.polyak_momentum_step(params, grad, v, lr, self.momentum)
        return lr * gg - self.momentum * gv             # g.(x_old - x_new) = lr |g|^2 - mu g.v_old


class ALIG(_PolyakOptimizer):
    r"""ALI-G: the Polyak step with an epsilon, a cap and Nesterov-style momentum.

    Parameters
    ----------
    max_lr : float or None, default None
        Cap on the step size; None means uncapped.
    momentum : float, default 0.0
        Factor mu in [0, 1) of the Nesterov-style momentum.
    eps : float, default 1e-5
        Added to ``||g||^2``.
    alpha : float, default 1.0
        Fraction of ``f - L`` to remove (ALI-G uses 1).
    lower_bound : float, "auto" or LevelBound, default 0.0
        ALI-G assumes 0 (interpolation).
    below, record
        As in `PolyakSGD`.
    adjusted_momentum : bool, default False
        Use the official implementation's "adjusted" (PyTorch-like) momentum: the
        buffer sums raw gradients and is scaled by the current step size.

    Notes
    -----
    .. math::

        \eta_t = \min\left(\eta_{max}, \frac{\alpha (f(x_t) - L)_+}{\|g_t\|^2 + \epsilon}\right),
        \quad b_{t+1} = \mu b_t - \eta_t g_t, \quad x_{t+1} = x_t - \eta_t g_t + \mu b_{t+1}

    This is the official implementation's default ("standard") momentum. With
    ``adjusted_momentum=True`` it is ``b_{t+1} = mu b_t - g_t`` and
    ``x_{t+1} = x_t - eta_t g_t + eta_t mu b_{t+1}``, the official "adjusted"
    momentum. Both differ from the official code only for ``f < L``: there the
    reference takes a step of negative size, here ``below`` applies.

    References
    ----------
    L. Berrada, A. Zisserman, M. P. Kumar, "Training neural networks for and by
    interpolation", ICML 2020; oval-group/ali-g, ``alig/th/alig.py``.

    Examples
    --------
    >>> import numpy as np
    >>> from nagd.optim import ALIG
    >>> x = np.array([3.0, -4.0])
    >>> round(ALIG(eps=0.0).step(x, x.copy(), 0.5 * x @ x), 12)
    0.5
    """

    _state_names = ("buffer",)

    def __init__(self, max_lr=None, momentum=0.0, eps=1e-5, alpha=1.0, lower_bound=0.0,
                 below="clip", record=False, adjusted_momentum=False):
        super().__init__()
        self.max_lr = _v.max_lr(max_lr)
        self.momentum = _v.unit("momentum", momentum)
        self.eps = _v.nonnegative("eps", eps)
        self.alpha = _v.alpha(alpha)
        if not isinstance(adjusted_momentum, (bool, np.bool_)):
            raise TypeError(f"adjusted_momentum must be True or False, got {adjusted_momentum!r}")
        self.adjusted_momentum = bool(adjusted_momentum)
        self.buffer = None
        self._common(lower_bound, below, record)

    def _hyper(self):
        return {"max_lr": None if math.isinf(self.max_lr) else self.max_lr,
                "momentum": self.momentum, "eps": self.eps, "alpha": self.alpha,
                "lower_bound": self.lower_bound, "below": self.below,
                "adjusted_momentum": self.adjusted_momentum}

    def step(self, params, grad, loss, lower_bound=None):
        """Update params in place; return the step size used (0.0 for none).

        Parameters
        ----------
        params : ndarray of shape (n,), float32 or float64
            Updated in place.
        grad : ndarray of shape (n,), same dtype
        loss : float
        lower_bound : float, array_like of shape (batch,), or None
            Overrides the bound for this step, as in `PolyakSGD.step`.

        Returns
        -------
        float
        """
        return self._capped_step(params, grad, loss, lower_bound)

    def _momentum_step(self, params, grad, lr, gg):
        (b,) = self._state(params, 1)
        gb = kernels.dot(grad, b)
        mu = self.momentum
        if self.adjusted_momentum:
            kernels.alig_adjusted_step(params, grad, b, lr, mu)
            return lr * ((1.0 + mu) * gg - mu * mu * gb)                 # g.(x_old - x_new)
        kernels.alig_step(params, grad, b, lr, mu)
        return (1.0 + mu) * lr * gg - mu * mu * gb                       # g.(x_old - x_new)


def _momo_bound(lower_bound):
    """MoMo's lower bound: a number, or "auto" for the method's own online estimate."""
    if isinstance(lower_bound, str):
        if lower_bound != "auto":
            raise ValueError(f"lower_bound must be a finite number or 'auto', got {lower_bound!r}")
        return "auto"
    return _v.finite("lower_bound", lower_bound)


class MoMo(_PolyakOptimizer):
    r"""MoMo: a Polyak step on a momentum model of the loss (Schaipp et al., 2023).

    Parameters
    ----------
    lr : float, default 1.0
        Cap on the step size (MoMo's learning rate).
    beta : float, default 0.9
        Averaging factor in [0, 1) of losses, gradients and ``<g, x>``.
    lower_bound : float or "auto", default 0.0
        Lower bound of the loss. ``"auto"`` uses MoMo's online estimate of the
        minimum, which never goes below ``floor``.
    weight_decay : float, default 0.0
        Decoupled (proximal) weight decay lambda.
    bias_correction : bool, default False
        Zero-initialised averages with bias correction ``rho = 1 - beta^t``;
        otherwise the averages start at the first values and ``rho = 1``.
    floor : float, default 0.0
        Smallest value of the ``"auto"`` estimate (the reference's safeguard).
    below, record
        As in `PolyakSGD` (``"clip"`` is MoMo's own positive part).

    Notes
    -----
    With ``d_t``, ``fbar_t``, ``gamma_t`` the averages of ``g``, ``f`` and
    ``<g, x>``, and ``c = 1 + lr*lambda``:

    .. math::

        \tau_t = \min\left(\frac{lr}{\rho},
          \frac{(c (\bar f_t - \rho L) + \langle d_t, x_t\rangle - c\gamma_t)_+}{\|d_t\|^2}\right),
        \quad x_{t+1} = \frac{x_t - \tau_t d_t}{c}

    With ``beta=0`` it is the Polyak step ``min(lr, (f - L)_+/||g||^2)``.
    The formulas, including the ``"auto"`` estimate, follow the official code,
    except that a zero direction ``d`` takes no step (the reference divides by
    ``||d||^2 = 0``). The state arrays have the dtype of ``params``; the dot
    products, averages and the step size are float64.

    References
    ----------
    F. Schaipp, R. Ohana, M. Eickenberg, A. Defazio, R. M. Gower, "MoMo:
    Momentum models for adaptive learning rates", ICML 2024;
    fabian-sp/MoMo, ``momo/momo.py``.

    Examples
    --------
    >>> import numpy as np
    >>> from nagd.optim import MoMo
    >>> x = np.array([3.0, -4.0])
    >>> MoMo(beta=0.0).step(x, x.copy(), 0.5 * x @ x)
    0.5
    """

    _state_names = ("d",)

    def __init__(self, lr=1.0, beta=0.9, lower_bound=0.0, weight_decay=0.0, bias_correction=False,
                 floor=0.0, below="clip", record=False):
        super().__init__()
        self.lr = _v.positive("lr", lr)
        self.beta = _v.unit("beta", beta)
        self.weight_decay = _v.nonnegative("weight_decay", weight_decay)
        self.bias_correction = bool(bias_correction)
        self.floor = _v.finite("floor", floor)
        self.d = None
        self._stats = np.zeros(4)
        self._common(0.0, below, record)
        self.lower_bound = _momo_bound(lower_bound)
        self._reset_model()

    def _reset_model(self):
        self.loss_avg = self.gamma = 0.0
        self.fstar = self.floor if self.lower_bound == "auto" else self.lower_bound

    def reset(self):
        """Forget all state: moments, averages, the lower-bound estimate and the record."""
        super().reset()
        self._reset_model()

    def _hyper(self):
        return {"lr": self.lr, "beta": self.beta, "lower_bound": self.lower_bound,
                "weight_decay": self.weight_decay, "bias_correction": self.bias_correction}

    def step(self, params, grad, loss):
        """Update params in place; return the step size tau used (0.0 for none).

        Parameters
        ----------
        params : ndarray of shape (n,), float32 or float64
            Updated in place.
        grad : ndarray of shape (n,), same dtype
        loss : float

        Returns
        -------
        float
        """
        _v.flat_pair(params, grad)
        loss = _finite_loss(loss)
        gg = _finite_sq_norm(kernels.sq_norm(grad))     # checked before the moments take the gradient
        bound = self.fstar
        if self._blocked(loss, bound):
            return self._finish(0.0, 0.0, loss, bound, gg, 0.0, False)
        beta, rho, (xg, xd, dd, gd) = self._moments(params, grad, self.t + 1)
        self.loss_avg = beta * self.loss_avg + (1.0 - beta) * loss
        self.gamma = beta * self.gamma + (1.0 - beta) * xg
        tau, ratio, bound = self._tau(xd, dd, rho)
        dec = self._update(params, tau, xg, gd)
        return self._finish(tau, dec, loss, bound, gg, ratio, ratio > self.lr / rho)

    def _moments(self, params, grad, k):
        """Update the direction for step k; return (beta, rho, [x.g, x.d, |d|^2, g.d])."""
        (d,) = self._state(params, 1)
        if self.bias_correction:
            beta, rho = self.beta, 1.0 - self.beta ** k
        else:
            beta, rho = (0.0 if k == 1 else self.beta), 1.0
        kernels.momo_moments(params, grad, d, self._stats, beta)
        return beta, rho, _momo_stats(self._stats)

    def _update(self, params, tau, xg, gd):
        """Move params by the step tau; return g.(x_old - x_new)."""
        c = 1.0 + self.lr * self.weight_decay
        kernels.momo_update(params, self.d, tau, c)
        return xg * (1.0 - 1.0 / c) + tau * gd / c      # x_new = (x - tau d)/c

    def _tau(self, xd, dd, rho):
        """MoMo's step size from the model; updates the "auto" estimate. Returns (tau, raw ratio, bound used)."""
        c = 1.0 + self.lr * self.weight_decay
        auto = self.lower_bound == "auto"
        if auto:
            cap = c * self.loss_avg + xd - c * self.gamma
            if cap < c * rho * self.fstar:
                self.fstar = max(cap / (2.0 * c * rho), self.floor)
        bound = self.fstar
        nom = c * (self.loss_avg - rho * bound) + xd - c * self.gamma
        ratio = kernels.polyak_lr(dd, nom, 1.0, _FLOAT_MAX, 0.0)     # zero direction: no step
        tau = kernels.polyak_lr(dd, nom, 1.0, self.lr / rho, 0.0)
        if auto:
            h = self.loss_avg + xd - self.gamma
            self.fstar = max((h - 0.5 * tau * dd) / rho, self.floor)
        return tau, ratio, bound


class MoMoAdam(MoMo):
    r"""MoMo-Adam: the MoMo step measured in Adam's diagonal metric.

    Parameters
    ----------
    lr : float, default 1e-2
        Cap on the step size.
    betas : (float, float), default (0.9, 0.999)
        Averaging factors of the gradients (also of losses and ``<g, x>``) and
        of the squared gradients.
    eps : float, default 1e-8
        Added to the diagonal ``D = sqrt(v / (1 - beta2^t))``.
    lower_bound : float or "auto", default 0.0
        As in `MoMo`.
    weight_decay : float, default 0.0
        Decoupled weight decay lambda.
    divide : bool, default True
        Proximal weight decay ``x <- x / (1 + lr*lambda)`` after the step;
        False uses AdamW's ``x <- (1 - lr*lambda) x`` before it.
    floor, below, record
        As in `MoMo`.

    Notes
    -----
    With Adam's moments ``m_t``, ``v_t``, ``D_t = sqrt(v_t / (1 - beta_2^t)) + eps``,
    ``rho = 1 - beta_1^t`` and the zero-initialised averages ``fbar_t``, ``gamma_t``:

    .. math::

        \tau_t = \min\left(\frac{lr}{\rho},
          \frac{(c(\bar f_t - \rho L) + \langle m_t, x_t\rangle - c\gamma_t)_+}{\|m_t\|^2_{D_t^{-1}}}\right),
        \quad x_{t+1} = x_t - \tau_t D_t^{-1} m_t

    This is the Polyak step answering "what is a sensible Newton-Raphson step
    for Adam?": the step size that the first-order model predicts removes
    ``f - L``, with the step taken in Adam's metric.

    References
    ----------
    F. Schaipp et al., "MoMo: Momentum models for adaptive learning rates",
    ICML 2024; fabian-sp/MoMo, ``momo/momo_adam.py``.

    Examples
    --------
    >>> import numpy as np
    >>> from nagd.optim import MoMoAdam
    >>> x = np.array([3.0, -4.0])
    >>> tau = MoMoAdam(lr=0.1).step(x, x.copy(), 0.5 * x @ x)   # capped at lr/(1 - beta1) = 1
    >>> round(tau, 12), x.round(12)                             # a step of tau * 0.1 * sign(g)
    (1.0, array([ 2.9, -3.9]))
    """

    _state_names = ("m", "v")

    def __init__(self, lr=1e-2, betas=(0.9, 0.999), eps=1e-8, lower_bound=0.0, weight_decay=0.0,
                 divide=True, floor=0.0, below="clip", record=False):
        try:
            b1, b2 = betas
        except (TypeError, ValueError):
            raise ValueError(f"betas must be a pair of numbers in [0, 1), got {betas!r}") from None
        b1, b2 = _v.unit("betas[0]", b1), _v.unit("betas[1]", b2)
        super().__init__(lr=lr, beta=b1, lower_bound=lower_bound, weight_decay=weight_decay,
                         bias_correction=True, floor=floor, below=below, record=record)
        self.beta1, self.beta2 = b1, b2
        self.eps = _v.positive("eps", eps)
        self.divide = bool(divide)
        self.m = self.v = None

    def _hyper(self):
        return {"lr": self.lr, "betas": (self.beta1, self.beta2), "eps": self.eps,
                "lower_bound": self.lower_bound, "weight_decay": self.weight_decay,
                "divide": self.divide}

    def _moments(self, params, grad, k):
        """Update Adam's moments for step k; return (beta1, rho, [x.g, x.m, |m|^2_D^-1, g.D^-1 m])."""
        m, v = self._state(params, 2)
        b1 = self.beta1
        rho, bc2 = 1.0 - b1 ** k, 1.0 - self.beta2 ** k
        kernels.momo_adam_moments(params, grad, m, v, self._stats, b1, self.beta2, bc2, self.eps)
        return b1, rho, _momo_stats(self._stats)

    def _update(self, params, tau, xg, gmd):
        """Move params by the step tau in Adam's metric; return g.(x_old - x_new)."""
        bc2 = 1.0 - self.beta2 ** (self.t + 1)
        lam = self.lr * self.weight_decay
        decay, shrink = (1.0, 1.0 + lam) if self.divide else (1.0 - lam, 1.0)
        kernels.momo_adam_update(params, self.m, self.v, tau, bc2, self.eps, decay, shrink)
        return xg * (1.0 - decay / shrink) + tau * gmd / shrink
