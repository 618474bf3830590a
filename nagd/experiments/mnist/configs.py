"""The section's runs as data: the paper's six optimizers (`CONFIGS`, `QUICK`), the deciding runs at 50 and
200 epochs, the hypothesis variants, and `TARGETS`."""
from .. import published

__all__ = ["CONFIGS", "QUICK", "TARGETS", "SCALABLE", "PUBLISHED", "HYPOTHESES", "HYPOTHESIS_OPTIMIZERS",
           "DECIDE_RUNS", "DECIDE_EPOCHS", "HYPOTHESIS_EPOCHS", "LONG_EPOCHS", "KERAS", "KERAS_PARAMS",
           "KERAS_EPOCHS", "HYPOTHESIS_SERIES", "HYPOTHESIS_LENGTH"]

PUBLISHED = published.TABLE3

_SERIES = {
    "sgd_momentum": ("sgd", {"lr": 0.001, "momentum": 0.9}),
    "sgd": ("sgd", {"lr": 0.03}),
    "nasgd": ("nagd", {"alpha": 0.5, "lower_bound": 0.0, "max_lr": 1.0}),
    "adam": ("adam", {"lr": 0.001}),
    "rmsprop": ("rmsprop", {"lr": 0.001}),
    "adagrad": ("adagrad", {"lr": 0.01}),
}


def _config(name, runs, epochs, dataset):
    opt, params = _SERIES[name]
    return {"optimizer": opt, "params": dict(params), "label": PUBLISHED["labels"][name], "runs": runs,
            "epochs": epochs, "batch_size": 60, "dataset": dataset, "dtype": "float32", "threads": 1,
            "eval_batch_size": 1000}


HYPOTHESES = {
    "base": {},
    "bce": {"loss": "sigmoid_bce"},
    "unit": {"normalize": "unit"},
    "raw": {"normalize": "none"},
    "elementwise": {"dropout": "elementwise"},
    "nodropout": {"dropout": "none"},
}
"""Training variants that might explain why the paper's 200-epoch numbers are below ours after 10:
the loss (sigmoid + binary cross-entropy on the one-hot target), the input scaling, the dropout.
The metric hypotheses (test set with dropout on, running training accuracy) need no variant:
every run with ``metrics="all"`` records them."""
KERAS = {"init": "glorot", "dropout": "elementwise"}
"""Keras' defaults for this network where they differ from PyTorch's: Glorot-uniform weights and zero
biases in every layer, and ``Dropout`` (element-wise) where PyTorch's example has ``Dropout2d``."""
KERAS_PARAMS = {
    "adam": {"eps": 1e-7},
    "rmsprop": {"alpha": 0.9, "eps": 1e-7},
    "adagrad": {"eps": 1e-7, "initial_accumulator_value": 0.1},
}
"""Keras' optimizer defaults where they differ from PyTorch's (rho 0.9, epsilon 1e-7, Adagrad's initial
accumulator 0.1), the paper's learning rates kept. Epsilon stays where PyTorch adds it (outside the square root)."""
HYPOTHESES.update({
    "keras": dict(KERAS),
    "keras_unit": dict(KERAS, normalize="unit"),
})
HYPOTHESIS_OPTIMIZERS = ("sgd", "nasgd")
DECIDE_RUNS, DECIDE_EPOCHS, HYPOTHESIS_EPOCHS = 5, 50, 5
KERAS_EPOCHS = 20
HYPOTHESIS_SERIES = {variant: HYPOTHESIS_OPTIMIZERS for variant in HYPOTHESES}
HYPOTHESIS_SERIES["keras"] = tuple(_SERIES)
"""The optimizers each variant runs with: the Keras defaults with all six (they change three of them), the
others and the combination ``keras_unit`` (Keras' defaults and pixels in [0, 1], as Keras' MNIST example
scales them) with SGD and NaSGD."""
HYPOTHESIS_LENGTH = {variant: KERAS_EPOCHS if variant.startswith("keras") else HYPOTHESIS_EPOCHS
                     for variant in HYPOTHESES}
"""Epochs per variant (full scale): the one-change variants 5, the Keras ones 20."""
LONG_EPOCHS = 200
"""The paper's scale: the deciding runs continued from their 50-epoch checkpoints (``decide200_*``)."""


def _decide(name, quick, epochs=DECIDE_EPOCHS):
    c = _config(name, 2 if quick else DECIDE_RUNS, 1 if quick else epochs, "mnist-sample" if quick else "mnist")
    c["metrics"] = "all"
    if quick:
        c["n_train"] = 1000
    if epochs != DECIDE_EPOCHS:
        # the same runs, longer: same seeds, resumed from the shorter runs' last checkpoints
        c["epochs"], c["continues"] = (2, 1) if quick else (epochs, DECIDE_EPOCHS)
    return c


def _hypothesis(variant, name, quick):
    c = _config(name, 1, 1 if quick else HYPOTHESIS_LENGTH[variant], "mnist-sample" if quick else "mnist")
    c.update(HYPOTHESES[variant], metrics="all")
    if variant.startswith("keras"):
        c["params"].update(KERAS_PARAMS.get(name, {}))
    if quick:
        c["n_train"] = 1000
    return c


_DECIDE = [f"decide_{n}" for n in _SERIES]
_DECIDE200 = [f"decide200_{n}" for n in _SERIES]
_HYP = [f"hyp_{v}_{n}" for v in HYPOTHESES for n in HYPOTHESIS_SERIES[v]]
CONFIGS = {name: _config(name, 20, 200, "auto") for name in _SERIES}
QUICK = {name: _config(name, 2, 3, "mnist-sample") for name in _SERIES}
for _quick, _table in ((False, CONFIGS), (True, QUICK)):
    _table.update({f"decide_{n}": _decide(n, _quick) for n in _SERIES})
    _table.update({f"decide200_{n}": _decide(n, _quick, LONG_EPOCHS) for n in _SERIES})
    _table.update({f"hyp_{v}_{n}": _hypothesis(v, n, _quick) for v in HYPOTHESES for n in HYPOTHESIS_SERIES[v]})
TARGETS = {"table3": list(_SERIES), "fig8": list(_SERIES), "mnist": list(_SERIES),
           "mnist_decide": _DECIDE, "mnist_decide200": _DECIDE200, "mnist_hypotheses": _HYP}
SCALABLE = ("runs", "epochs")
"""Config keys that ``nagd reproduce mnist --runs N --epochs N`` may set (e.g. 2 runs of 10 epochs)."""
