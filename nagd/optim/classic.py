"""The baseline optimizers: SGD (momentum, Nesterov), its two schedules of section 3.3, Adam, RMSprop, Adagrad.

Each follows PyTorch's ``torch.optim`` convention (without weight decay) and
makes one kernel call of `nagd.kernels` per step (one per array for a list or
dict of arrays, continuing the sum of the predicted decrease).

NaN and infinity: like PyTorch's, these optimizers do not look at the values
they are given. A NaN in the gradient is written into the parameters and the
state (momentum, moments), and a NaN loss into the readouts. Build them with
``check_finite=True`` to get what `nagd.nn.fit` does for its optimizer (and
what the Polyak classes always do): a NaN or infinite loss (when one is
given) or gradient raises ValueError before anything changes. It costs one
extra pass over the gradient per step.
"""
import numpy as np

from .. import _validation as _v
from .. import kernels
from ._base import _COUNT, _NUMBER, Optimizer

__all__ = ["SGD", "ExpDecaySGD", "AlphaMonitoredSGD", "Adam", "RMSprop", "Adagrad"]


class _Scheduled(Optimizer):
    """An optimizer whose learning rate follows a schedule known in advance (before any feedback rule)."""

    def lr_schedule(self, n_steps):
        """The learning rates of the first n_steps steps of a fresh optimizer, before any feedback rule.

        Parameters
        ----------
        n_steps : int

        Returns
        -------
        ndarray of shape (n_steps,), float64
            The values `step` uses (computed by the same functions, so the same bits).
        """
        return np.full(int(n_steps), self._initial_lr())

    def _initial_lr(self):
        return self.lr

    def _common(self, lr, lower_bound, check_finite):
        """Check and keep the hyperparameters every baseline has."""
        self.lr = _v.positive("lr", lr)
        self.lower_bound = _v.finite("lower_bound", lower_bound)
        self.check_finite = bool(check_finite)

    def step(self, params, grad, loss=None):
        """Update params in place; return the learning rate used.

        Parameters
        ----------
        params : ndarray, or list, tuple or dict of ndarray; float32 or float64
            Updated in place: one array of any shape, or several, taken as their
            concatenation (`nagd.optim._base`); the state holds one element per element.
        grad : same structure, shapes and dtype as params
            Gradient of the loss at params.
        loss : float, one-element array or None
            The loss at params: only for the readout `last_alpha` (None leaves it None).

        Returns
        -------
        float
        """
        arrays, loss = self._begin(params, grad, loss)
        lr = self._lr()
        decrease = self._move(arrays, lr, self.t + 1)
        self.t += 1
        self._record(lr, decrease, loss)
        self._after_step()
        return lr

    def _lr(self):
        return self.lr

    def _after_step(self):
        pass


class SGD(_Scheduled):
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
    check_finite : bool, default False
        Raise ValueError on a NaN or infinite loss or gradient, before the step
        (see the module docstring).

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

    def __init__(self, lr=1e-3, momentum=0.0, nesterov=False, lower_bound=0.0, check_finite=False):
        super().__init__()
        self._common(lr, lower_bound, check_finite)
        self.momentum = _v.unit("momentum", momentum)
        if nesterov and self.momentum == 0.0:
            raise ValueError("nesterov=True needs momentum > 0, got momentum=0")
        self.nesterov = bool(nesterov)
        self.momentum_buffer = None

    def _move(self, arrays, lr, t):
        """One kernel call per array; return the predicted decrease g.(x_old - x_new)."""
        if self.momentum == 0.0:
            if arrays.single:
                return kernels.sgd_step(arrays.xs[0], arrays.gs[0], lr)
            return lr * arrays.carry(kernels.sgd_step_from, (), lr)
        (buf,) = self._state(arrays, 1)
        if arrays.single:
            return kernels.sgd_momentum_step(arrays.xs[0], arrays.gs[0], buf, lr, self.momentum, self.nesterov)
        return arrays.carry(kernels.sgd_momentum_step_from, (buf,), lr, self.momentum, self.nesterov)


class ExpDecaySGD(SGD):
    """SGD with the learning rate ``lr0 * exp(-rate * t)`` at step t = 0, 1, 2, ... (section 3.3).

    Parameters
    ----------
    lr0 : float
        Learning rate of the first step.
    rate : float
        Decay rate per step (>= 0).
    momentum, nesterov, lower_bound, check_finite
        As in `SGD`.
    """

    def __init__(self, lr0, rate, momentum=0.0, nesterov=False, lower_bound=0.0, check_finite=False):
        super().__init__(lr=lr0, momentum=momentum, nesterov=nesterov, lower_bound=lower_bound,
                         check_finite=check_finite)
        self.lr0 = self.lr
        self.rate = _v.nonnegative("rate", rate)

    def _lr(self):
        return kernels.exp_decay_lr(self.lr0, self.rate, self.t)

    def lr_schedule(self, n_steps):
        lrs = np.empty(int(n_steps))
        kernels.exp_decay_schedule(self.lr0, self.rate, lrs)
        return lrs

    lr_schedule.__doc__ = _Scheduled.lr_schedule.__doc__


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
    momentum, nesterov, lower_bound, check_finite
        As in `SGD`.
    """

    def __init__(self, lr=0.1, threshold=2.0, patience=3, factor=1.0 / 3.0, momentum=0.0,
                 nesterov=False, lower_bound=0.0, check_finite=False):
        super().__init__(lr=lr, momentum=momentum, nesterov=nesterov, lower_bound=lower_bound,
                         check_finite=check_finite)
        self.lr_init = self.lr
        self.threshold = _v.positive("threshold", threshold)
        self.patience = _v.positive_int("patience", patience)
        self.factor = _v.positive("factor", factor)
        if not self.factor < 1.0:
            raise ValueError(f"factor must be in (0, 1), got {factor!r}")
        self.count = 0

    _scalar_state = {**SGD._scalar_state, "lr": _NUMBER, "count": _COUNT}    # the rule changes lr

    def reset(self):
        """Forget all state and return to the initial learning rate."""
        super().reset()
        self.lr = self.lr_init
        self.count = 0

    def step(self, params, grad, loss):
        """Update params in place; return the learning rate used.

        Parameters
        ----------
        params : ndarray, or list, tuple or dict of ndarray; float32 or float64
            Updated in place (as in `SGD.step`).
        grad : same structure, shapes and dtype as params
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
        self.lr, self.count = kernels.alpha_monitored_lr(self.lr, self.last_alpha, self.threshold, self.patience,
                                                         self.factor, self.count)

    def _initial_lr(self):
        return self.lr_init                     # the schedule before the rule cuts it


class Adam(_Scheduled):
    """Adam (Kingma & Ba), PyTorch's form with bias correction.

    Parameters
    ----------
    lr : float, default 1e-3
    betas : (float, float), default (0.9, 0.999)
    eps : float, default 1e-8
    lower_bound : float, default 0.0
        Only used to report the equivalent alpha.
    check_finite : bool, default False
        Raise ValueError on a NaN or infinite loss or gradient, before the step
        (see the module docstring).
    """

    _state_names = ("m", "v")

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, lower_bound=0.0, check_finite=False):
        super().__init__()
        self._common(lr, lower_bound, check_finite)
        self.eps = _v.positive("eps", eps)
        try:
            b1, b2 = betas
        except (TypeError, ValueError):
            raise ValueError(f"betas must be a pair of numbers in [0, 1), got {betas!r}") from None
        self.beta1, self.beta2 = _v.unit("betas[0]", b1), _v.unit("betas[1]", b2)
        self.m = self.v = None

    def _move(self, arrays, lr, t):
        """One kernel call per array (t: the step's number, from 1); return the predicted decrease."""
        m, v = self._state(arrays, 2)
        if arrays.single:
            return kernels.adam_step(arrays.xs[0], arrays.gs[0], m, v, t, lr, self.beta1, self.beta2, self.eps)
        return arrays.carry(kernels.adam_step_from, (m, v), t, lr, self.beta1, self.beta2, self.eps)


class RMSprop(_Scheduled):
    """RMSprop (Tieleman & Hinton), PyTorch's form (no centering, no momentum).

    Parameters
    ----------
    lr : float, default 1e-2
    alpha : float, default 0.99
        Smoothing constant of the squared-gradient average (PyTorch's name; not NaGD's alpha).
    eps : float, default 1e-8
    lower_bound : float, default 0.0
        Only used to report the equivalent alpha.
    check_finite : bool, default False
        Raise ValueError on a NaN or infinite loss or gradient, before the step
        (see the module docstring).
    """

    _state_names = ("v",)

    def __init__(self, lr=1e-2, alpha=0.99, eps=1e-8, lower_bound=0.0, check_finite=False):
        super().__init__()
        self._common(lr, lower_bound, check_finite)
        self.eps = _v.positive("eps", eps)
        self.alpha = _v.unit("alpha", alpha)
        self.v = None

    def _move(self, arrays, lr, t):
        """One kernel call per array (t: the step's number, from 1); return the predicted decrease."""
        (v,) = self._state(arrays, 1)
        if arrays.single:
            return kernels.rmsprop_step(arrays.xs[0], arrays.gs[0], v, lr, self.alpha, self.eps)
        return arrays.carry(kernels.rmsprop_step_from, (v,), lr, self.alpha, self.eps)


class Adagrad(_Scheduled):
    """Adagrad (Duchi et al.), PyTorch's form (no lr decay).

    Parameters
    ----------
    lr : float, default 1e-2
    eps : float, default 1e-10
    initial_accumulator_value : float, default 0.0
        The starting value of every sum of squared gradients (PyTorch's name and default;
        Keras starts at 0.1).
    lower_bound : float, default 0.0
        Only used to report the equivalent alpha.
    check_finite : bool, default False
        Raise ValueError on a NaN or infinite loss or gradient, before the step
        (see the module docstring).
    """

    _state_names = ("sum",)

    def __init__(self, lr=1e-2, eps=1e-10, initial_accumulator_value=0.0, lower_bound=0.0, check_finite=False):
        super().__init__()
        self._common(lr, lower_bound, check_finite)
        self.eps = _v.positive("eps", eps)
        self.initial_accumulator_value = _v.nonnegative("initial_accumulator_value", initial_accumulator_value)
        self.sum = None

    def _move(self, arrays, lr, t):
        """One kernel call per array (t: the step's number, from 1); return the predicted decrease."""
        (s,) = self._state(arrays, 1, fill=self.initial_accumulator_value)
        if arrays.single:
            return kernels.adagrad_step(arrays.xs[0], arrays.gs[0], s, lr, self.eps)
        return arrays.carry(kernels.adagrad_step_from, (s,), lr, self.eps)
