"""The section's runs as data (`CONFIGS`, `QUICK`, `TARGETS`) and the exponential fit of Figure 7."""
import functools

import numpy as np

from .task import initial_params, make_layer_matching, sample_order, train_split
from .trainer import _loss_flag, _lr_trace

__all__ = ["CONFIGS", "QUICK", "TARGETS", "STEPS_PER_EPOCH", "fit_exponential", "fitted_schedule"]

STEPS_PER_EPOCH = 100


def fit_exponential(lr, steps=None):
    """Least-squares fit of ``log lr = log lr0 - rate * t``.

    Parameters
    ----------
    lr : array_like of shape (n,)
        Learning rates at steps ``steps``; non-positive entries are left out.
    steps : array_like of shape (n,) or None
        Default ``0, 1, ..., n-1``.

    Returns
    -------
    lr0 : float
    rate : float
        Decay rate per step (positive for a decreasing lr).

    Raises
    ------
    ValueError
        With fewer than two positive learning rates.
    """
    lr = np.asarray(lr, dtype=np.float64)
    t = np.arange(lr.size, dtype=np.float64) if steps is None else np.asarray(steps, dtype=np.float64)
    ok = lr > 0
    if np.count_nonzero(ok) < 2:
        raise ValueError(f"lr must hold at least two positive values to fit, got {np.count_nonzero(ok)}")
    slope, intercept = np.polyfit(t[ok], np.log(lr[ok]), 1)
    return float(np.exp(intercept)), float(-slope)


@functools.lru_cache(maxsize=32)
def _mean_nagd_lr(alpha, n_steps, fit_runs, fit_seed, train_on, loss, dtype):
    """Mean over fit_runs NaSGD(alpha) runs of the per-step lr, for the first n_steps steps (read-only)."""
    total = np.zeros(n_steps)
    epochs = -(-n_steps // STEPS_PER_EPOCH)
    for r in range(fit_runs):
        seed = fit_seed + r
        X, y = train_split(make_layer_matching(seed, dtype=dtype), train_on)
        order = sample_order(seed, X.shape[0], epochs)[:n_steps]
        lrs = np.zeros(n_steps)
        _lr_trace(initial_params(seed).astype(dtype), X, y, order, float(alpha), 1.0, _loss_flag(loss), lrs)
        total += lrs
    mean = total / fit_runs
    mean.flags.writeable = False        # cached: shared by every caller, so nobody may change it
    return mean


def fitted_schedule(fit):
    """lr0, rate of the exponential fitted as a series' ``"fit"`` entry describes (see module docstring).

    Parameters
    ----------
    fit : dict
        ``alpha``, ``steps``, ``runs``, ``seed`` and optionally ``train_on``, ``loss``, ``dtype``.

    Returns
    -------
    lr0, rate : float
        As `fit_exponential` returns them.
    """
    lr = _mean_nagd_lr(float(fit["alpha"]), int(fit["steps"]), int(fit["runs"]), int(fit["seed"]),
                       fit.get("train_on", "train"), fit.get("loss", "distance"), fit.get("dtype", "float64"))
    return fit_exponential(lr)


SGD_LRS = (0.1, 0.03, 0.01, 0.003, 0.001)
MOMENTA = {"mu0": 0.0, "mu05": 0.5, "mu09": 0.9, "mu099": 0.99}
ADAPTIVE_LRS = {"adam": (1e-2, 3e-3, 1e-3, 3e-4), "rmsprop": (1e-2, 3e-3, 1e-3, 3e-4),
                "adagrad": (0.3, 0.1, 0.03, 0.01)}
ADAPTIVE_NAMES = {"adam": "Adam", "rmsprop": "RMSprop", "adagrad": "Adagrad"}
NASGD_ALPHAS = tuple(round(0.1 * k, 1) for k in range(1, 21))
FLOAT64_ALPHAS = (0.5, 1.0, 1.5)
FIT_WINDOWS = {"decay028": 1500, "decay052": 600, "decay090": 200}
ABLATION_LOSSES = ("distance", "mse")
ABLATION_INITS = ("torch", "glorot")
ABLATION_ALPHAS = (0.5, 0.7, 1.0, 1.5, 1.7, 2.0)
"""The loss x initialisation ablation: which of the section's observations depend on which reading."""


def _series(label, optimizer, **params):
    return {"label": label, "optimizer": optimizer, "params": params}


def _config(series, dtype="float32"):
    return {"task": "layer_matching", "runs": 50, "epochs": 45, "eval_every": 20, "train_on": "train",
            "loss": "distance", "dtype": dtype, "series": series}


def _fit(steps):
    return {"alpha": 0.7, "steps": steps, "runs": 50, "seed": 1_000_000, "train_on": "train",
            "loss": "distance", "dtype": "float32"}


def _all_configs():
    out = {}
    for key, mu in MOMENTA.items():
        out[f"fig4_{key}"] = _config([_series(f"lr={lr:g}", "sgd", lr=lr, momentum=mu) for lr in SGD_LRS])
    out["fig5_baselines"] = _config([_series(f"{ADAPTIVE_NAMES[name]} lr={lr:g}", name, lr=lr)
                                     for name, lrs in ADAPTIVE_LRS.items() for lr in lrs])
    out["fig5_nasgd"] = _config([_series(f"alpha={a:.1f}", "nagd", alpha=a) for a in NASGD_ALPHAS])
    out["fig5_nasgd_float64"] = _config([_series(f"alpha={a:.1f}", "nagd", alpha=a) for a in FLOAT64_ALPHAS],
                                        dtype="float64")
    out["fig7"] = _config([
        _series("gna070", "nagd", alpha=0.7),
        _series("alpha100", "alpha_monitored", lr=0.1, threshold=2.0, patience=3, factor=1.0 / 3.0),
    ] + [dict(_series(name, "expdecay"), fit=_fit(steps)) for name, steps in FIT_WINDOWS.items()])
    for loss in ABLATION_LOSSES:
        for init in ABLATION_INITS:
            out[f"ablation_{loss}_{init}"] = dict(
                _config([_series(f"alpha={a:.1f}", "nagd", alpha=a) for a in ABLATION_ALPHAS]
                        + [_series("SGD lr=0.01", "sgd", lr=0.01, momentum=0.0)]), loss=loss, init=init)
    return out


CONFIGS = _all_configs()


def _quick(config):
    q = dict(config, runs=3, epochs=5, eval_every=20)
    q["series"] = [dict(s, fit=dict(s["fit"], runs=4)) if "fit" in s else s for s in config["series"]]
    return q


QUICK = {name: _quick(c) for name, c in CONFIGS.items()}

TARGETS = {
    "fig4": [f"fig4_{k}" for k in MOMENTA],
    "fig5": ["fig5_baselines", "fig5_nasgd", "fig5_nasgd_float64"],
    "fig6": ["fig4_mu0", "fig5_nasgd"],
    "fig7": ["fig7"],
}
TARGETS["ablation"] = [f"ablation_{loss}_{init}" for loss in ABLATION_LOSSES for init in ABLATION_INITS]
TARGETS["layer"] = list(dict.fromkeys(n for t in ("fig4", "fig5", "fig6", "fig7", "ablation") for n in TARGETS[t]))
