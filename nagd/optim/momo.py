"""MoMo and MoMo-Adam: the Polyak step on a momentum model of the loss (Schaipp et al., 2023)."""
import math

import numpy as np

from .. import _validation as _v
from .. import kernels
from ._arrays import as_arrays
from ._base import _NUMBER, _finite_loss, _finite_sq_norm
from .polyak import _FLOAT_MAX, _PolyakOptimizer

__all__ = ["MoMo", "MoMoAdam"]


def _momo_stats(stats):
    """Unpack [x.g, x.d, |d|^2_D, g.D^-1 d]; a non-finite entry means params too large (the grad was checked)."""
    out = tuple(float(s) for s in stats)
    if not all(math.isfinite(v) for v in out):
        raise ValueError("params must be finite and of moderate size: <x, g> overflowed; call reset()")
    return out


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
    max_lr : float, default 1.0
        Cap on the step size: MoMo's learning rate ``lr`` (the preset
        `nagd.optim.presets.momo` keeps that name).
    beta : float, default 0.9
        Averaging factor in [0, 1) of losses, gradients and ``<g, x>``.
    lower_bound : float or "auto", default 0.0
        Lower bound of the loss. ``"auto"`` uses MoMo's online estimate of the
        minimum, which never goes below ``min_lower_bound``; the bound in use is
        the attribute ``lower_bound_estimate``.
    weight_decay : float, default 0.0
        Decoupled (proximal) weight decay lambda.
    bias_correction : bool, default False
        Zero-initialised averages with bias correction ``rho = 1 - beta^t``;
        otherwise the averages start at the first values and ``rho = 1``.
    min_lower_bound : float, default 0.0
        Smallest value of the ``"auto"`` estimate (the reference's safeguard).
    below, record
        As in `PolyakSGD` (``"clip"`` is MoMo's own positive part).

    Notes
    -----
    With ``d_t``, ``fbar_t``, ``gamma_t`` the averages of ``g``, ``f`` and
    ``<g, x>``, and ``c = 1 + max_lr*lambda``:

    .. math::

        \tau_t = \min\left(\frac{\eta_{max}}{\rho},
          \frac{(c (\bar f_t - \rho L) + \langle d_t, x_t\rangle - c\gamma_t)_+}{\|d_t\|^2}\right),
        \quad x_{t+1} = \frac{x_t - \tau_t d_t}{c}

    With ``beta=0`` it is the Polyak step ``min(max_lr, (f - L)_+/||g||^2)``.
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
    _scalar_state = {**_PolyakOptimizer._scalar_state, "loss_avg": _NUMBER, "gamma": _NUMBER,
                     "lower_bound_estimate": _NUMBER}

    def __init__(self, max_lr=1.0, beta=0.9, lower_bound=0.0, weight_decay=0.0, bias_correction=False,
                 min_lower_bound=0.0, below="clip", record=False):
        super().__init__()
        self.max_lr = _v.positive("max_lr", max_lr)
        self.beta = _v.unit("beta", beta)
        self.weight_decay = _v.nonnegative("weight_decay", weight_decay)
        self.bias_correction = bool(bias_correction)
        self.min_lower_bound = _v.finite("min_lower_bound", min_lower_bound)
        self.d = None
        self._common(0.0, below, record)
        self.lower_bound = _momo_bound(lower_bound)
        self._reset_model()

    def _reset_model(self):
        self.loss_avg = self.gamma = 0.0
        self.lower_bound_estimate = self.min_lower_bound if self.lower_bound == "auto" else self.lower_bound

    def reset(self):
        """Forget all state: moments, averages, the lower-bound estimate and the record."""
        super().reset()
        self._reset_model()

    def step(self, params, grad, loss):
        """Update params in place; return the step size tau used (0.0 for none).

        Parameters
        ----------
        params : ndarray, or list, tuple or dict of ndarray; float32 or float64
            Updated in place: one array of any shape, or several, taken as their
            concatenation (`nagd.optim._base`); the dot products and norms are over
            all of it, summed in the order of one array.
        grad : same structure, shapes and dtype as params
        loss : float

        Returns
        -------
        float
        """
        arrays = as_arrays(params, grad)
        loss = _finite_loss(loss)
        gg = _finite_sq_norm(arrays.sq_norm())          # checked before the moments take the gradient
        lb = self.lower_bound_estimate
        if self._blocked(loss, lb):
            return self._finish(0.0, 0.0, loss, lb, gg, 0.0, False)
        beta, rho, (xg, xd, dd, gd) = self._moments(arrays, self.t + 1)
        self.loss_avg = beta * self.loss_avg + (1.0 - beta) * loss
        self.gamma = beta * self.gamma + (1.0 - beta) * xg
        tau, ratio, lb = self._tau(xd, dd, rho)
        decrease = self._update(arrays, tau, xg, gd)
        return self._finish(tau, decrease, loss, lb, gg, ratio, ratio > self.max_lr / rho)

    def _moments(self, arrays, k):
        """Update the direction for step k; return (beta, rho, [x.g, x.d, |d|^2, g.d])."""
        (d,) = self._state(arrays, 1)
        if self.bias_correction:
            beta, rho = self.beta, 1.0 - self.beta ** k
        else:
            beta, rho = (0.0 if k == 1 else self.beta), 1.0
        stats = np.zeros(4)
        if arrays.single:
            kernels.momo_moments(arrays.xs[0], arrays.gs[0], d, stats, beta)
        else:
            arrays.each(kernels.momo_moments_from, (arrays.xs, arrays.gs, arrays.split(d)), stats, beta)
        return beta, rho, _momo_stats(stats)

    def _update(self, arrays, tau, xg, gd):
        """Move params by the step tau; return g.(x_old - x_new)."""
        c = 1.0 + self.max_lr * self.weight_decay
        arrays.each(kernels.momo_update, (arrays.xs, arrays.split(self.d)), tau, c)
        return xg * (1.0 - 1.0 / c) + tau * gd / c      # x_new = (x - tau d)/c

    def _tau(self, xd, dd, rho):
        """MoMo's step size from the model; updates the "auto" estimate. Returns (tau, raw ratio, bound used)."""
        c = 1.0 + self.max_lr * self.weight_decay
        auto = self.lower_bound == "auto"
        if auto:
            cap = c * self.loss_avg + xd - c * self.gamma
            if cap < c * rho * self.lower_bound_estimate:
                self.lower_bound_estimate = max(cap / (2.0 * c * rho), self.min_lower_bound)
        lb = self.lower_bound_estimate
        nom = c * (self.loss_avg - rho * lb) + xd - c * self.gamma
        ratio = kernels.polyak_lr(dd, nom, 1.0, _FLOAT_MAX, 0.0)     # zero direction: no step
        tau = kernels.polyak_lr(dd, nom, 1.0, self.max_lr / rho, 0.0)
        if auto:
            model_value = self.loss_avg + xd - self.gamma      # MoMo's h_k: the model's value at x
            self.lower_bound_estimate = max((model_value - 0.5 * tau * dd) / rho, self.min_lower_bound)
        return tau, ratio, lb


class MoMoAdam(MoMo):
    r"""MoMo-Adam: the MoMo step measured in Adam's diagonal metric.

    Parameters
    ----------
    max_lr : float, default 1e-2
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
        Proximal weight decay ``x <- x / (1 + max_lr*lambda)`` after the step;
        False uses AdamW's ``x <- (1 - max_lr*lambda) x`` before it.
    min_lower_bound, below, record
        As in `MoMo`.

    Notes
    -----
    With Adam's moments ``m_t``, ``v_t``, ``D_t = sqrt(v_t / (1 - beta_2^t)) + eps``,
    ``rho = 1 - beta_1^t`` and the zero-initialised averages ``fbar_t``, ``gamma_t``:

    .. math::

        \tau_t = \min\left(\frac{\eta_{max}}{\rho},
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
    >>> tau = MoMoAdam(max_lr=0.1).step(x, x.copy(), 0.5 * x @ x)   # capped at max_lr/(1 - beta1) = 1
    >>> round(tau, 12), x.round(12)                             # a step of tau * 0.1 * sign(g)
    (1.0, array([ 2.9, -3.9]))
    """

    _state_names = ("m", "v")

    def __init__(self, max_lr=1e-2, betas=(0.9, 0.999), eps=1e-8, lower_bound=0.0, weight_decay=0.0,
                 divide=True, min_lower_bound=0.0, below="clip", record=False):
        try:
            b1, b2 = betas
        except (TypeError, ValueError):
            raise ValueError(f"betas must be a pair of numbers in [0, 1), got {betas!r}") from None
        b1, b2 = _v.unit("betas[0]", b1), _v.unit("betas[1]", b2)
        super().__init__(max_lr=max_lr, beta=b1, lower_bound=lower_bound, weight_decay=weight_decay,
                         bias_correction=True, min_lower_bound=min_lower_bound, below=below, record=record)
        self.beta1, self.beta2 = b1, b2
        self.eps = _v.positive("eps", eps)
        self.divide = bool(divide)
        self.m = self.v = None

    def _moments(self, arrays, k):
        """Update Adam's moments for step k; return (beta1, rho, [x.g, x.m, |m|^2_D^-1, g.D^-1 m])."""
        m, v = self._state(arrays, 2)
        b1 = self.beta1
        rho, bc2 = 1.0 - b1 ** k, 1.0 - self.beta2 ** k
        stats = np.zeros(4)
        if arrays.single:
            kernels.momo_adam_moments(arrays.xs[0], arrays.gs[0], m, v, stats, b1, self.beta2, bc2, self.eps)
        else:
            arrays.each(kernels.momo_adam_moments_from, (arrays.xs, arrays.gs, arrays.split(m), arrays.split(v)),
                        stats, b1, self.beta2, bc2, self.eps)
        return b1, rho, _momo_stats(stats)

    def _update(self, arrays, tau, xg, gmd):
        """Move params by the step tau in Adam's metric; return g.(x_old - x_new)."""
        bc2 = 1.0 - self.beta2 ** (self.t + 1)
        lam = self.max_lr * self.weight_decay
        decay, shrink = (1.0, 1.0 + lam) if self.divide else (1.0 - lam, 1.0)
        arrays.each(kernels.momo_adam_update, (arrays.xs, arrays.split(self.m), arrays.split(self.v)),
                    tau, bc2, self.eps, decay, shrink)
        return xg * (1.0 - decay / shrink) + tau * gmd / shrink
