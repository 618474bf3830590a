"""Section 3 of the paper: the dense layer matching task (Figures 4-7).

A random dense tanh layer ``R^10 -> R^4`` is recovered from 100 samples by
training a fresh layer of the same shape one sample at a time; progress is the
mean Euclidean distance on the 100 held-out samples, averaged over the runs.
The modelling choices (which half is trained on, the loss, the precision, the
seeds, Figure 7's fitted schedules) are explained in ``docs/layer_matching.md``.

==========  =====================================================================
module      contents
==========  =====================================================================
`task`      `make_layer_matching`, `initial_params`, `sample_order`
`trainer`   `train_compiled` (one Numba function per run), `train_python` (the reference)
`configs`   `CONFIGS`, `QUICK`, `TARGETS`, `fit_exponential`, `fitted_schedule`
`figures`   `report`: Figures 4-7 and the tables
==========  =====================================================================
"""
import numpy as np

from ... import optim
from .. import published
from .configs import CONFIGS, QUICK, STEPS_PER_EPOCH, TARGETS, fit_exponential, fitted_schedule
from .figures import report
from .task import LayerMatching, initial_params, make_layer_matching, sample_order, train_split
from .trainer import train_compiled, train_python

__all__ = [
    "CONFIGS", "QUICK", "TARGETS", "PUBLISHED", "run", "report",
    "train_compiled", "train_python", "fit_exponential", "fitted_schedule",
    "LayerMatching", "make_layer_matching", "initial_params", "sample_order", "STEPS_PER_EPOCH",
]

PUBLISHED = published.LAYER_MATCHING

# the section's names of the two schedules of section 3.3 (kept: they are part of stored run configs)
_LABELS = {"expdecay": "ExpDecaySGD", "alpha_monitored": "AlphaMonitoredSGD"}


def _optimizer(name, params):
    """The optimizer of a series: ``name`` is a `nagd.optim.make` name or one of this section's labels."""
    return optim.make(_LABELS.get(name, name), **params)


def _json_floats(a, digits=7):
    """A list of floats rounded to `digits` significant digits; NaN/inf become None (JSON).

    Vectorized: ``rint(v * 10**s) / 10**s`` is the double nearest to the rounded decimal
    (10**s is exact up to s = 22, i.e. for |v| >= 1e-16 at 6 digits), so the JSON text is short.
    """
    a = np.asarray(a, dtype=np.float64)
    ok = np.isfinite(a) & (a != 0.0)
    out = np.where(np.isfinite(a), a, 0.0)
    s = (digits - 1) - np.floor(np.log10(np.abs(a[ok])))
    up, down = 10.0 ** np.maximum(s, 0.0), 10.0 ** np.maximum(-s, 0.0)    # both exact powers of ten
    out[ok] = np.rint(a[ok] * up / down) / up * down
    values = out.tolist()
    if not np.isfinite(a).all():
        values = [v if f else None for v, f in zip(values, np.isfinite(a).tolist())]
    return values


def run(config, seed):
    """Train every series of ``config`` once on the data, initial layer and sample order of ``seed``.

    Parameters
    ----------
    config : dict
        One of `CONFIGS` / `QUICK`: ``epochs``, ``eval_every``, ``train_on`` and a
        list of ``series`` (``label``, ``optimizer``, ``params`` and, for the
        fitted exponential schedules, ``fit``); optionally ``loss`` and ``init``
        (`INITS`) of the trained layer.
    seed : int

    Returns
    -------
    dict
        ``steps`` (the steps where the distance is measured) and, per series label,
        ``distance``, ``lr``, ``alpha`` (per-block means, see `train_compiled`),
        ``steps_taken`` and, for fitted schedules, ``lr0`` and ``rate``.
    """
    epochs, eval_every = int(config["epochs"]), int(config["eval_every"])
    dtype, loss = config.get("dtype", "float64"), config.get("loss", "distance")
    data = make_layer_matching(seed, dtype=dtype)
    X, y = train_split(data, config.get("train_on", "train"))
    order = sample_order(seed, X.shape[0], epochs)
    p0 = initial_params(seed, X.shape[1], y.shape[1], config.get("init", "torch")).astype(dtype)
    out = {"steps": list(range(0, len(order) + 1, eval_every)), "series": {}}
    for s in config["series"]:
        params = dict(s.get("params", {}))
        extra = {}
        if "fit" in s:
            lr0, rate = fitted_schedule(s["fit"])
            params.update(lr0=lr0, rate=max(rate, 0.0))
            extra = {"lr0": lr0, "rate": rate}
        res = train_compiled(p0.copy(), X, y, data.X_test, data.y_test, order, _optimizer(s["optimizer"], params),
                             eval_every, loss)
        out["series"][s["label"]] = {"distance": _json_floats(res["distance"], 5),
                                     "lr": _json_floats(res["lr"], 4), "alpha": _json_floats(res["alpha"], 4),
                                     "steps_taken": res["steps"], **extra}
    return out
