"""Reading an optimizer's steps: the equivalent-alpha monitor and the oscillation stopping rule.

* `AlphaMonitor` reads any optimizer's ``last_alpha`` (the equivalent alpha,
  ``g.(x_old - x_new)/(f - L)``) and warns when it stays at or above a threshold
  (2, the paper's section 3.2) for a number of consecutive steps.
* `OscillationStop` reads the (equivalent) learning rate and stops a run when the
  median of ``log10(lr)`` over a window of steps has stopped falling for a few
  windows.

Both plug into `nagd.nn.train.fit` (``on_step=``, ``on_epoch=``; the rule also as
``stop=``) and into ``scipy.optimize.minimize(..., method=nagd)`` (``callback=``;
the rule also as the option ``stop``). Why they work and what the rule saves and
costs on the paper's tasks: ``docs/polyak.md``, section Diagnostics.
"""
import math
import warnings

import numpy as np

from . import _validation as _v
from . import kernels

__all__ = ["HighAlphaWarning", "AlphaMonitor", "OscillationStop"]


class HighAlphaWarning(RuntimeWarning):
    """The equivalent alpha of an optimizer stayed above the threshold (the learning rate is too high)."""


class AlphaMonitor:
    """Warn when an optimizer's equivalent alpha stays at or above a threshold.

    Parameters
    ----------
    threshold : float, default 2.0
        The paper's bound: a step predicted to remove more than twice ``f - L``.
    patience : int, default 3
        Consecutive steps at or above the threshold before a warning (the rule
        `nagd.kernels.high_alpha_run`, shared with `nagd.optim.AlphaMonitoredSGD`).
    warn : bool, default True
        Issue a `HighAlphaWarning`; otherwise only count.

    Attributes
    ----------
    steps : int
        Steps seen (with a known alpha).
    above : int
        Steps whose alpha was at or above the threshold.
    streak : int
        Current run of consecutive steps at or above the threshold.
    alarms : int
        Runs that reached ``patience`` (one warning each).
    last_alpha : float or None

    Examples
    --------
    >>> import numpy as np
    >>> from nagd.optim import SGD
    >>> from nagd.diagnostics import AlphaMonitor
    >>> opt, mon = SGD(lr=1.5), AlphaMonitor(warn=False)
    >>> x = np.array([1.0])
    >>> for _ in range(4):                      # f = x^2/2: each step predicts removing 3 (f - L)
    ...     _ = opt.step(x, x.copy(), 0.5 * x[0] ** 2)
    ...     alarm = mon(opt)
    >>> alarm, mon.above, mon.alarms
    (True, 4, 1)
    """

    def __init__(self, threshold=2.0, patience=3, warn=True):
        self.threshold = _v.positive("threshold", threshold)
        self.patience = _v.positive_int("patience", patience)
        self.warn = bool(warn)
        self.reset()

    def reset(self):
        """Forget the counts."""
        self.steps = self.above = self.streak = self.alarms = 0
        self.last_alpha = None

    def __call__(self, source) -> bool:
        """Read one step's equivalent alpha; return True while the alarm is on.

        Parameters
        ----------
        source : optimizer or float
            An object with ``last_alpha`` (any `nagd.optim` optimizer), or the alpha itself.
            None (no loss was given to the step) is ignored.
        """
        alpha = getattr(source, "last_alpha", source)
        if alpha is None:
            return False
        alpha = float(alpha)
        self.last_alpha = alpha
        self.steps += 1
        self.streak = kernels.high_alpha_run(alpha, self.threshold, self.streak)
        if self.streak == 0:
            return False
        self.above += 1
        if self.streak == self.patience:
            self.alarms += 1
            if self.warn:
                warnings.warn(
                    f"equivalent alpha at or above {self.threshold:g} for {self.patience} steps in a row "
                    f"(last {alpha:.3g}): the learning rate is probably too high",
                    HighAlphaWarning, stacklevel=2)
        return self.streak >= self.patience

    def on_step(self, step, loss, optimizer):
        """``nagd.nn.train.fit(on_step=monitor.on_step)``.

        Parameters
        ----------
        step : int
            Steps done (unused).
        loss : float
            The step's loss (unused).
        optimizer : nagd.optim.Optimizer
            Read for ``last_lr`` / ``last_alpha``.
        """
        self(optimizer)


class OscillationStop:
    """Stop when the learning rate oscillates without a downward trend (paper, section 3.2).

    The steps' learning rates are grouped in windows of ``window`` steps; the
    rule stops when the median of ``log10(lr)`` of a window is less than
    ``min_drop`` decades below that of the window before, for ``patience``
    windows in a row. Steps of size 0 (``f <= L`` or a zero gradient) are not
    counted.

    Parameters
    ----------
    window : int, default 100
        Steps per window (one epoch of the paper's layer-matching task).
    min_drop : float, default 0.05
        Smallest fall of the median, in decades per window, that counts as progress.
    patience : int, default 3
        Windows in a row without progress before stopping.

    Attributes
    ----------
    stopped : bool
    stop_step : int or None
        Steps seen when the rule fired.
    medians : list of float
        Median of log10(lr) of each finished window.

    Notes
    -----
    Use it with

    * any optimizer: ``if rule.update(opt.last_lr): break``;
    * `nagd.nn.train.fit`: ``stop=rule`` (or ``on_step=rule.on_step,
      on_epoch=rule.on_epoch``: the first ends the epoch, the second the training);
    * ``scipy.optimize.minimize(..., method=nagd, options={"stop": rule})``: the
      loop feeds the rule the size of every step; when it fires, the next iterate is
      evaluated and the run ends there with status 4 (not a success: the rule certifies
      nothing); or as ``callback=rule``: the rule computes each step's equivalent
      learning rate ``g.(x_old - x_new)/||g||^2`` from the iterates and gradients scipy
      passes (so it sees the steps after the first), and raises `StopIteration` (status 99).

    Examples
    --------
    >>> from nagd.diagnostics import OscillationStop
    >>> rule = OscillationStop(window=2, patience=1)
    >>> [rule.update(lr) for lr in (1e-1, 1e-1, 1e-2, 1e-2, 1e-3, 1e-1)]
    [False, False, False, False, False, True]
    >>> rule.medians, rule.stop_step
    ([-1.0, -2.0, -2.0], 6)
    """

    def __init__(self, window=100, min_drop=0.05, patience=3):
        self.window = _v.positive_int("window", window)
        self.min_drop = _v.finite("min_drop", min_drop)
        self.patience = _v.positive_int("patience", patience)
        self.reset()

    def reset(self):
        """Forget everything seen."""
        self.medians = []
        self.stopped = False
        self.stop_step = None
        self._logs = []
        self._steps = 0
        self._count = 0
        self._prev = None

    def update(self, lr) -> bool:
        """Add one step's learning rate; return True once the rule has fired.

        Parameters
        ----------
        lr : float
            The step's (equivalent) learning rate; 0 is skipped.

        Returns
        -------
        bool
        """
        if self.stopped:
            return True
        self._steps += 1
        lr = float(lr)
        if lr > 0.0 and math.isfinite(lr):
            self._logs.append(math.log10(lr))
        if len(self._logs) < self.window:
            return False
        self.medians.append(float(np.median(self._logs)))
        self._logs = []
        if len(self.medians) >= 2:
            if self.medians[-2] - self.medians[-1] < self.min_drop:
                self._count += 1
            else:
                self._count = 0
        if self._count >= self.patience:
            self.stopped = True
            self.stop_step = self._steps
        return self.stopped

    def on_step(self, step, loss, optimizer):
        """``nagd.nn.train.fit(on_step=rule.on_step)``: ends the epoch when the rule fires.

        Parameters
        ----------
        step : int
            Steps done (unused).
        loss : float
            The step's loss (unused).
        optimizer : nagd.optim.Optimizer
            Read for ``last_lr``.
        """
        if optimizer.last_lr is not None and self.update(optimizer.last_lr):
            raise StopIteration

    def on_epoch(self, epoch, history):
        """``nagd.nn.train.fit(on_epoch=rule.on_epoch)``: ends the training once the rule has fired.

        Parameters
        ----------
        epoch : int
        history : dict
            Unused.
        """
        if self.stopped:
            raise StopIteration

    def __call__(self, intermediate_result):
        """A ``scipy.optimize.minimize`` callback: raises StopIteration when the rule fires.

        Parameters
        ----------
        intermediate_result : scipy.optimize.OptimizeResult
            With the iterate ``x`` and its gradient ``jac``.
        """
        x = np.array(intermediate_result.x, dtype=np.float64)
        g = np.array(intermediate_result.jac, dtype=np.float64)
        if self._prev is not None:
            x0, g0 = self._prev
            gg = float(g0 @ g0)
            if gg > 0.0 and self.update(float(g0 @ (x0 - x)) / gg):
                raise StopIteration
        self._prev = (x, g)
