"""In-place optimizers on flat parameter arrays.

Every optimizer follows one protocol (`nagd.optim._base`)::

    lr = opt.step(params, grad, loss)   # params updated in place; returns the lr used
    opt.last_lr, opt.last_alpha         # the step's learning rate and equivalent alpha
    opt.reset()                         # forget the state (moments, step count)

=========================  ==========================================================
module                     contents
=========================  ==========================================================
`~nagd.optim.classic`      SGD, ExpDecaySGD, AlphaMonitoredSGD, Adam, RMSprop, Adagrad
`~nagd.optim.polyak`       NaGD, PolyakSGD, ALIG and the one edge-case policy
`~nagd.optim.momo`         MoMo, MoMoAdam
`~nagd.optim.lower_bound`  LevelBound (the ``"auto"`` bound), LowerBoundError
`~nagd.optim.presets`      nasgd, sps_max, sps_plus, alig, momo, momo_adam
=========================  ==========================================================
"""
from ._base import Optimizer, equivalent_alpha, equivalent_lr
from .classic import SGD, AlphaMonitoredSGD, Adagrad, Adam, ExpDecaySGD, RMSprop
from .lower_bound import LevelBound, LowerBoundError
from .momo import MoMo, MoMoAdam
from .polyak import ALIG, HISTORY_FIELDS, NaGD, PolyakSGD
from . import presets

__all__ = ["Optimizer", "NaGD", "SGD", "Adam", "RMSprop", "Adagrad", "ExpDecaySGD", "AlphaMonitoredSGD",
           "equivalent_alpha", "equivalent_lr", "LowerBoundError", "LevelBound", "PolyakSGD", "ALIG",
           "MoMo", "MoMoAdam", "HISTORY_FIELDS", "presets"]
