"""Estimators of an unknown lower bound of the loss, and the error for a wrong one.

* `LevelBound`: the ``"auto"`` bound of the optimizer classes (a ratio test on achieved against
  predicted decrease; fast on smooth problems, for minibatch training).
* `path_level`: the path-based level rule of Brannlund and of Goffin and Kiwiel, a compiled
  function on a small state array; the ``lower_bound="auto"`` of `nagd.minimize` and of the
  scipy method, chosen there by measurement (docs/algorithm.md) because it also converges on
  nonsmooth problems, where the ratio test stalls.
"""
import numpy as np

from .. import _validation as _v
from .. import kernels
from ._base import _Declared

__all__ = ["LowerBoundError", "LevelBound", "path_level", "PATH_STATE"]

# path_level's state: delta, the f that began the current group of steps, the path length
# travelled since, and the path budget after which delta halves.
_DELTA, _RECORD, _PATH, _BUDGET = 0, 1, 2, 3
PATH_STATE = 4
_DELTA0 = 0.1           # the first delta, relative to |f(x0)| (1 if f(x0) == 0)
_BUDGET_STEPS = 10.0    # the budget, in lengths of the first step

_EPS = 4.0 * float(np.finfo(np.float64).eps)


@kernels._jit(inline=True)
def path_level(s, k, f, best, step_length):
    """Update the path-based level rule at iterate k; return the level ``best - delta``.

    The level is ``best - delta`` with ``delta = 0.1 |f(x_0)|`` at first. A group of steps
    ends when f falls to ``f_record - delta/2`` (delta is kept, ``f_record = f``) or when the
    path travelled in the group exceeds the budget, ten times the length of the first step
    (delta halves, ``f_record = best``). delta never falls below ``4 eps |best|``, so the
    level stays below every f seen.

    Parameters
    ----------
    s : ndarray of shape (PATH_STATE,), float64
        The rule's state, updated in place; any content at k = 0.
    k : int
        Index of the iterate (0 for the starting point).
    f : float
        f at iterate k.
    best : float
        The lowest f seen, f included.
    step_length : float
        Length of the step that led to iterate k (unused at k = 0).

    Returns
    -------
    float
        The level for the step from iterate k.

    Notes
    -----
    For a convex f with bounded subgradients the rule gives ``liminf f_k = f*`` whatever the
    budget (Goffin and Kiwiel, 1999).

    References
    ----------
    U. Brannlund, "On relaxation methods for nonsmooth convex optimization", 1993.
    J.-L. Goffin, K. C. Kiwiel, "Convergence of a simple subgradient level method",
    Math. Program. 85, 1999.
    """
    if k == 0:
        s[_DELTA] = _DELTA0 * (abs(f) if f != 0.0 else 1.0)
        s[_RECORD] = f
        s[_PATH] = 0.0
        s[_BUDGET] = 0.0
    else:
        s[_PATH] += step_length
        if s[_BUDGET] == 0.0:
            s[_BUDGET] = _BUDGET_STEPS * step_length
        if f <= s[_RECORD] - 0.5 * s[_DELTA]:
            s[_RECORD] = f
            s[_PATH] = 0.0
        elif s[_PATH] > s[_BUDGET]:
            s[_DELTA] *= 0.5
            s[_RECORD] = best
            s[_PATH] = 0.0
        floor = _EPS * abs(best)
        if s[_DELTA] < floor:
            s[_DELTA] = floor
    return best - s[_DELTA]


class LowerBoundError(ValueError):
    """The loss fell below the optimizer's lower bound (raised when ``below="raise"``)."""


class LevelBound(_Declared):
    """Online estimate of an unknown minimum: a target level below the best loss seen.

    Each step aims at the level ``f_best - delta``. After the step, the
    decrease it achieved is compared with the decrease its first-order model
    predicted (``g . (x_old - x_new)``): below ``low`` times the prediction the
    step overshot, the level was too low, and ``delta`` shrinks by ``shrink``;
    above ``high`` times the prediction the model was still accurate, so the
    level can go lower and ``delta`` grows by ``grow``. The first ``delta`` is
    ``delta0 * |f(x_0)|`` (``delta0`` when ``f(x_0) == 0``). A step of size
    zero because ``f <= level`` also grows ``delta``, and ``delta`` never falls
    below ``4 eps |f_best|``, so the level never sticks to the loss.

    Only differences of losses enter after the first step, so adding a
    constant to the loss changes nothing but the first offset, and scaling
    the loss scales every offset. With minibatches the achieved decrease is
    measured on the next batch, which makes the test noisy when batch losses
    vary a lot.

    It keeps state: give each optimizer its own instance.

    Parameters
    ----------
    delta0 : float, default 0.1
        First offset, relative to ``|f(x_0)|``.
    low, high : float, default 0.5, 0.75
        Bounds, 0 < low < high, of the achieved/predicted decrease ratio that
        keeps ``delta``. For the exact Polyak step on an isotropic quadratic the
        ratio is ``1 - alpha/2``.
    grow : float, default 1.5
        Factor (> 1) applied to delta when the ratio is above ``high``.
    shrink : float, default 0.5
        Factor in (0, 1) applied to delta when the ratio is below ``low``.

    Notes
    -----
    A level method in the spirit of Polyak's step with an estimated optimal
    value (Nedić and Bertsekas), with the trust-region test on the ratio of
    achieved to predicted decrease deciding whether the level goes up or down.

    References
    ----------
    A. Nedić, D. P. Bertsekas, "Incremental subgradient methods for
    nondifferentiable optimization", SIAM J. Optim. 12(1), 2001.
    J. Nocedal, S. J. Wright, "Numerical Optimization", 2006, Algorithm 4.1 (the ratio test).
    """

    def __init__(self, delta0=0.1, low=0.5, high=0.75, grow=1.5, shrink=0.5):
        self.delta0 = _v.positive("delta0", delta0)
        self.low, self.high = _v.positive("low", low), _v.positive("high", high)
        if not self.low < self.high:
            raise ValueError(f"low must be below high, got low={low!r}, high={high!r}")
        self.grow = _v.positive("grow", grow)
        if not self.grow > 1.0:
            raise ValueError(f"grow must be > 1, got {grow!r}")
        self.shrink = _v.positive("shrink", shrink)
        if not self.shrink < 1.0:
            raise ValueError(f"shrink must be in (0, 1), got {shrink!r}")
        self.reset()

    #: What a step changes (the rest are the constructor's arguments): saved by the optimizer's state_dict.
    _state_fields = ("best", "delta", "level", "last_loss")

    def reset(self):
        """Forget the best loss, the last loss and the offset."""
        self.best = self.delta = self.level = self.last_loss = None

    def _get_state(self):
        return {k: getattr(self, k) for k in self._state_fields}

    def _set_state(self, values):
        for k in self._state_fields:
            setattr(self, k, None if values[k] is None else float(values[k]))

    def __call__(self, loss, predicted_decrease):
        """Return the level for this step.

        Parameters
        ----------
        loss : float
            The loss at the current point.
        predicted_decrease : float or None
            The previous step's predicted decrease, the first-order ``g . (x_old - x_new)``
            (None before the first step).

        Returns
        -------
        float
            ``f_best - delta``.
        """
        if self.best is None:
            self.best = loss
            self.delta = self.delta0 * (abs(loss) if loss != 0.0 else 1.0)
        else:
            if predicted_decrease is not None and predicted_decrease > 0.0:
                ratio = (self.last_loss - loss) / predicted_decrease
                if ratio < self.low:
                    self.delta *= self.shrink
                elif ratio > self.high:
                    self.delta *= self.grow
            elif predicted_decrease is not None and self.last_loss <= self.level:
                self.delta *= self.grow                  # no step because f <= level: lower the level
            self.best = min(self.best, loss)
            self.delta = max(self.delta, _EPS * abs(self.best))   # stays resolvable below f_best
        self.last_loss = loss
        self.level = self.best - self.delta
        return self.level

