"""nagd: norm-adapted gradient descent (the Polyak step) for NumPy and SciPy."""
from . import kernels, optim
from ._minimize import minimize, nagd
from .optim import NaGD, SGD, Adam, RMSprop, Adagrad, ExpDecaySGD, AlphaMonitoredSGD
from .optim import equivalent_alpha, equivalent_lr

__version__ = "0.1.0"

__all__ = [
    "nagd", "minimize",
    "NaGD", "SGD", "Adam", "RMSprop", "Adagrad", "ExpDecaySGD", "AlphaMonitoredSGD",
    "equivalent_alpha", "equivalent_lr", "kernels", "optim", "__version__",
]
