"""Named constructors for the Polyak step as other methods and papers define it.

Each preset returns an optimizer of `nagd.optim` set up to reproduce the
published method exactly, so results can be compared across papers with one
code path:

=============  ===============================================================
preset         step
=============  ===============================================================
`nasgd`        ``min(1, alpha (f - L)/||g||^2)`` (the paper's Algorithm 1)
`sps_max`      ``min(gamma_b, (f_i - f_i*)/(c ||g_i||^2))`` (Loizou et al.)
`sps_plus`     ``(f_i - f_i*)_+ / ||g_i||^2``, uncapped (Gower et al.)
`alig`         ``min(max_lr, f/(||g||^2 + eps))`` with Nesterov-style momentum (Berrada et al.)
`momo`         MoMo's model-based momentum step (Schaipp et al.)
`momo_adam`    MoMo in Adam's metric
=============  ===============================================================

`PRESETS` maps each name to its constructor; `nagd.optim.make` builds one by name. The
optimizer classes, the edge-case policy and the ``"auto"`` lower bound live in
`nagd.optim`; the monitors and the stopping rule in `nagd.diagnostics`.
"""
from .momo import MoMo, MoMoAdam
from .polyak import ALIG, PolyakSGD

__all__ = ["nasgd", "sps_max", "sps_plus", "alig", "momo", "momo_adam", "PRESETS"]


def nasgd(alpha=0.7, lower_bound=0.0, record=False) -> PolyakSGD:
    """The paper's NaSGD: the step ``min(1, alpha*(f - L)/||g||^2)`` of Algorithm 1.

    Parameters
    ----------
    alpha : float, default 0.7
        In (0, 2]; the paper's tables use 0.7 and its best values 1.9 (quadratic), 1.6 (Rosenbrock).
    lower_bound : float, default 0.0
    record : bool, default False
        Keep a per-step record in ``history``.

    Returns
    -------
    PolyakSGD

    References
    ----------
    D. Sprunger, "Reparametrizing gradient descent", 2020, Algorithm 1.
    """
    return PolyakSGD(alpha=alpha, lower_bound=lower_bound, max_lr=1.0, record=record)


def sps_max(c=0.5, gamma_b=1.0, lower_bound=0.0, record=False) -> PolyakSGD:
    """SPS_max: ``min(gamma_b, (f_i - f_i*)/(c ||g_i||^2))``, i.e. alpha = 1/c and max_lr = gamma_b.

    Parameters
    ----------
    c : float, default 0.5
        SPS's constant, >= 0.5 (the paper's theory uses c = 1/2).
    gamma_b : float or None, default 1.0
        Cap on the step size; None for SPS without cap.
    lower_bound : float, default 0.0
        ``f*``; per-sample minima ``f_i*`` can be passed to each ``step`` as
        ``lower_bound=`` (their batch mean is used).
    record : bool, default False

    Returns
    -------
    PolyakSGD

    Raises
    ------
    ValueError
        If c < 0.5 (alpha = 1/c would exceed 2).

    References
    ----------
    N. Loizou, S. Vaswani, I. Laradji, S. Lacoste-Julien, "Stochastic Polyak
    step-size for SGD: an adaptive learning rate for fast convergence",
    AISTATS 2021, equation (SPS_max).
    """
    c = float(c)
    if not c >= 0.5:
        raise ValueError(f"c must be >= 0.5 (alpha = 1/c must not exceed 2), got {c!r}")
    return PolyakSGD(alpha=1.0 / c, lower_bound=lower_bound, max_lr=gamma_b, record=record)


def sps_plus(lower_bound=0.0, max_lr=None, record=False) -> PolyakSGD:
    """SPS+: ``(f_i - f_i*)_+ / ||g_i||^2``, the positive part of the gap, uncapped by default.

    Parameters
    ----------
    lower_bound : float, default 0.0
    max_lr : float or None, default None
    record : bool, default False

    Returns
    -------
    PolyakSGD

    References
    ----------
    R. M. Gower, M. Blondel, N. Gazagnadou, F. Pedregosa, "Cutting some slack
    for SGD with adaptive Polyak stepsizes", 2022 (SPS+);
    google-deepmind/optax ``scale_by_polyak(variant='sps+')``.
    """
    return PolyakSGD(alpha=1.0, lower_bound=lower_bound, max_lr=max_lr, below="clip", record=record)


def alig(max_lr=None, momentum=0.0, eps=1e-5, record=False, adjusted_momentum=False) -> ALIG:
    """ALI-G with the official defaults: ``min(max_lr, f/(||g||^2 + eps))``, eps = 1e-5, Nesterov-style momentum.

    Parameters
    ----------
    max_lr : float or None, default None
    momentum : float, default 0.0
    eps : float, default 1e-5
    record : bool, default False
    adjusted_momentum : bool, default False
        The official code's "adjusted" (PyTorch-like) momentum instead of the standard one.

    Returns
    -------
    ALIG

    References
    ----------
    L. Berrada, A. Zisserman, M. P. Kumar, "Training neural networks for and by
    interpolation", ICML 2020; oval-group/ali-g.
    """
    return ALIG(max_lr=max_lr, momentum=momentum, eps=eps, record=record,
                adjusted_momentum=adjusted_momentum)


def momo(lr=1.0, beta=0.9, lower_bound=0.0, weight_decay=0.0, record=False) -> MoMo:
    """MoMo with the official defaults (lr = 1, beta = 0.9, no bias correction).

    Parameters
    ----------
    lr, beta, lower_bound, weight_decay, record
        As in `nagd.optim.MoMo` (``lower_bound="auto"`` for MoMo's estimate).

    Returns
    -------
    MoMo
    """
    return MoMo(max_lr=lr, beta=beta, lower_bound=lower_bound, weight_decay=weight_decay, record=record)


def momo_adam(lr=1e-2, betas=(0.9, 0.999), lower_bound=0.0, weight_decay=0.0, record=False) -> MoMoAdam:
    """MoMo-Adam with the official defaults (lr = 1e-2, betas = (0.9, 0.999), proximal weight decay).

    Parameters
    ----------
    lr, betas, lower_bound, weight_decay, record
        As in `nagd.optim.MoMoAdam`.

    Returns
    -------
    MoMoAdam
    """
    return MoMoAdam(max_lr=lr, betas=betas, lower_bound=lower_bound, weight_decay=weight_decay, record=record)


PRESETS = {"nasgd": nasgd, "sps_max": sps_max, "sps_plus": sps_plus, "alig": alig, "momo": momo,
           "momo_adam": momo_adam}

