"""nagd: norm-adapted gradient descent (the Polyak step) for NumPy and SciPy.

Submodules and public names load on first use (PEP 562, as scipy does), so
``import nagd`` costs almost nothing; ``nagd.minimize`` imports scipy.optimize
and Numba, ``nagd.optim`` Numba, ``nagd.experiments`` matplotlib.
"""
import importlib

from . import _numba_cache  # noqa: F401  before any kernel: Numba needs a writable cache folder (cheap check)

__version__ = "0.1.0"

_SUBMODULES = ("data", "datasets", "diagnostics", "experiments", "kernels", "nn", "nonsmooth", "optim", "problems")
_NAMES = {
    "nagd": "_minimize", "bundle": "_minimize", "minimize": "_minimize",
    "NaGD": "optim", "SGD": "optim", "Adam": "optim", "RMSprop": "optim", "Adagrad": "optim",
    "ExpDecaySGD": "optim", "AlphaMonitoredSGD": "optim",
    "equivalent_alpha": "optim", "equivalent_lr": "optim",
}

__all__ = [*_NAMES, *_SUBMODULES, "__version__"]


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _NAMES:
        value = getattr(importlib.import_module(f"{__name__}.{_NAMES[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
