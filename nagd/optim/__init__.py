"""In-place optimizers on parameter arrays: one array of any shape, or a list, tuple or dict of arrays.

Every optimizer follows one protocol (`nagd.optim._base`)::

    lr = opt.step(params, grad, loss)   # params updated in place; returns the lr used
    opt.last_lr, opt.last_alpha         # the step's learning rate and equivalent alpha
    opt.reset()                         # forget the state (moments, step count)
    d = opt.state_dict()                # hyperparameters and state as plain data
    opt.load_state_dict(d)              # restore them exactly (checked first)

``params`` is one array of any shape, a list or tuple of arrays, or a dict of
arrays (``grad`` the same structure): a step on several arrays is bit for bit
the step on their concatenation.

=========================  ==========================================================
module                     contents
=========================  ==========================================================
`~nagd.optim.classic`      SGD, ExpDecaySGD, AlphaMonitoredSGD, Adam, RMSprop, Adagrad
`~nagd.optim.polyak`       NaGD, PolyakSGD, ALIG and the one edge-case policy
`~nagd.optim.momo`         MoMo, MoMoAdam
`~nagd.optim.lower_bound`  LevelBound (the ``"auto"`` bound), LowerBoundError
`~nagd.optim.presets`      nasgd, sps_max, sps_plus, alig, momo, momo_adam
=========================  ==========================================================

`make` builds any of them by name: the one registry of optimizers.
"""
from ._base import STATE_VERSION, Optimizer, as_loss, equivalent_alpha, equivalent_lr
from .classic import SGD, AlphaMonitoredSGD, Adagrad, Adam, ExpDecaySGD, RMSprop
from .lower_bound import LevelBound, LowerBoundError
from .momo import MoMo, MoMoAdam
from .polyak import ALIG, HISTORY_FIELDS, NaGD, PolyakSGD
from . import presets

__all__ = ["Optimizer", "NaGD", "SGD", "Adam", "RMSprop", "Adagrad", "ExpDecaySGD", "AlphaMonitoredSGD",
           "equivalent_alpha", "equivalent_lr", "LowerBoundError", "LevelBound", "PolyakSGD", "ALIG",
           "MoMo", "MoMoAdam", "HISTORY_FIELDS", "presets", "as_loss", "make", "NAMES", "STATE_VERSION"]

_CLASSES = {cls.__name__: cls for cls in (NaGD, SGD, ExpDecaySGD, AlphaMonitoredSGD, Adam, RMSprop, Adagrad,
                                          PolyakSGD, ALIG, MoMo, MoMoAdam)}
_LOWER = {name.lower(): cls for name, cls in _CLASSES.items()}

#: Every name `make` accepts: the optimizer classes, then the presets of `nagd.optim.presets`.
NAMES = (*_CLASSES, *presets.PRESETS)


def make(name, **options):
    """Build an optimizer by name: a class of `nagd.optim` or a preset of `nagd.optim.presets`.

    Parameters
    ----------
    name : str
        One of `NAMES`: a class name (``"NaGD"``, ``"AlphaMonitoredSGD"``; also in lower
        case, ``"nagd"``, ``"sgd"``) or a preset name (``"sps_max"``, ``"momo_adam"``). A
        preset wins over a class of the same lower-case name (``"alig"``, ``"momo"``).
    **options
        Keyword arguments of the class or preset (checked there).

    Returns
    -------
    Optimizer

    Raises
    ------
    ValueError
        For an unknown name or a bad option value.
    TypeError
        For an option the class or preset does not take.

    Examples
    --------
    >>> from nagd.optim import make
    >>> make("sps_max", c=1.0, gamma_b=0.5)
    PolyakSGD(alpha=1.0, lower_bound=0.0, max_lr=0.5, momentum=0.0, eps=0.0, below='clip', record=False)
    >>> make("sgd", lr=0.1)
    SGD(lr=0.1, momentum=0.0, nesterov=False, lower_bound=0.0, check_finite=False)
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, got {name!r}")
    if name in presets.PRESETS:
        return presets.PRESETS[name](**options)
    cls = _CLASSES.get(name) or _LOWER.get(name.lower())
    if cls is None:
        raise ValueError(f"name must be one of {', '.join(NAMES)} (class names also in lower case), got {name!r}")
    return cls(**options)
