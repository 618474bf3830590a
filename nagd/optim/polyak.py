"""The Polyak step: NaGD (the paper's configuration), PolyakSGD, ALI-G, and the one edge-case policy.

The edge-case policy, shared by every class here and by `nagd.optim.momo`:

  * the step size is min(max_lr, alpha*(f - L)/(||g||^2 + eps)), computed by
    `nagd.kernels.polyak_lr` in float64 from a float64 squared norm whatever
    the dtype of params;
  * a zero gradient (||g||^2 == 0, whatever eps) gives a zero step size; a
    ratio that overflows gives max_lr, or no step when uncapped (max_lr=None);
    never inf or NaN;
  * f <= L is handled by `below` (`NaGD`: no step): "clip" (default) takes the positive part
    max(f - L, 0) as SPS+ does, so the step size is zero but momentum terms
    still move the parameters; "skip" leaves params and state untouched;
    "raise" skips when f == L and raises LowerBoundError when f < L;
  * a non-finite loss or gradient raises ValueError; params and state are
    left untouched.
"""
import numpy as np

from .. import _validation as _v
from .. import kernels
from ._arrays import as_arrays
from ._base import Optimizer, _finite_loss, _finite_sq_norm, _is_number, _Kind
from .lower_bound import LevelBound, LowerBoundError

__all__ = ["NaGD", "PolyakSGD", "ALIG", "HISTORY_FIELDS"]

#: Keys of ``opt.history`` when an optimizer is built with ``record=True``.
HISTORY_FIELDS = ("ratio", "lr", "capped", "gap", "grad_sq_norm", "alpha", "eq_lr", "lower_bound")

_BELOW = ("clip", "skip", "raise")
_FLOAT_MAX = float(np.finfo(np.float64).max)   # as max_lr: the uncapped ratio of the record


def _below(value):
    if value not in _BELOW:
        raise ValueError(f"below must be one of {_BELOW}, got {value!r}")
    return value


def _as_lower_bound(lower_bound):
    """A per-step lower bound: a number, or the per-sample minima of the batch (their mean)."""
    if np.ndim(lower_bound) == 0:
        return _v.finite("lower_bound", lower_bound)
    fi = np.asarray(lower_bound, dtype=np.float64)
    if fi.size == 0 or not np.all(np.isfinite(fi)):
        raise ValueError(f"lower_bound must hold finite per-sample minima, got {lower_bound!r}")
    return float(fi.mean())


def _history_ok(value, fresh):
    if fresh is None:
        return value is None
    if not isinstance(value, dict) or set(value) != set(HISTORY_FIELDS):
        return False
    columns = [value[k] for k in HISTORY_FIELDS]
    if not all(isinstance(c, list) and len(c) == len(columns[0]) for c in columns):
        return False
    return (all(isinstance(v, bool) for v in value["capped"])
            and all(_is_number(v) for k in HISTORY_FIELDS if k != "capped" for v in value[k]))


# the per-step record of record=True (None without)
_HISTORY = _Kind(f"None without record, else a dict of equally long lists with the keys {HISTORY_FIELDS}",
                 _history_ok,
                 load=lambda v, fresh: None if v is None else {k: list(v[k]) for k in HISTORY_FIELDS},
                 dump=lambda h: None if h is None else {k: list(v) for k, v in h.items()})


def _level_ok(value, fresh):
    if fresh is None:
        return value is None
    return (isinstance(value, dict) and set(value) == set(LevelBound._state_fields)
            and all(v is None or _is_number(v) for v in value.values()))


def _level_load(value, fresh):
    if value is not None:
        fresh._set_state(value)
    return fresh


# the estimate of lower_bound="auto" (None for a fixed bound)
_LEVEL = _Kind(f"None for a fixed lower bound, else a dict of numbers or None with the keys "
               f"{LevelBound._state_fields}", _level_ok, load=_level_load,
               dump=lambda rule: None if rule is None else rule._get_state())


class _PolyakOptimizer(Optimizer):
    """Shared parts of the Polyak family: the bound, the f <= L policy and the record."""

    _scalar_state = {**Optimizer._scalar_state, "history": _HISTORY, "lower_bound_rule": _LEVEL}

    def _common(self, lower_bound, below, record):
        if isinstance(lower_bound, str):
            if lower_bound != "auto":
                raise ValueError(f"lower_bound must be a finite number or 'auto', got {lower_bound!r}")
            lower_bound = LevelBound()
        if isinstance(lower_bound, LevelBound):
            self.lower_bound_rule = lower_bound
            self.lower_bound = "auto"
        else:
            self.lower_bound_rule = None
            self.lower_bound = _v.finite("lower_bound", lower_bound)
        self.below = _below(below)
        self.record = bool(record)
        self.history = {k: [] for k in HISTORY_FIELDS} if self.record else None

    def reset(self):
        """Forget all state, the lower-bound estimate and the record."""
        super().reset()
        if self.lower_bound_rule is not None:
            self.lower_bound_rule.reset()
        if self.record:
            self.history = {k: [] for k in HISTORY_FIELDS}

    def _current_lower_bound(self, loss, lower_bound):
        if lower_bound is not None:
            return _as_lower_bound(lower_bound)
        if self.lower_bound_rule is not None:
            return self.lower_bound_rule(loss, self.last_decrease)
        return self.lower_bound

    def _blocked(self, loss, lb):
        """Apply the f <= L policy: True when the step must be skipped."""
        if loss > lb or self.below == "clip":
            return False
        if self.below == "raise" and loss < lb:
            raise LowerBoundError(
                f"loss {loss!r} is below lower_bound {lb!r}: the bound is wrong (below='raise')")
        return True

    def step(self, params, grad, loss, lower_bound=None):
        """Update params in place; return the step size used (0.0 for none).

        Parameters
        ----------
        params : ndarray, or list, tuple or dict of ndarray; float32 or float64
            Updated in place: one array of any shape, or several, taken as their
            concatenation (`nagd.optim._base`): ``||g||^2`` is the squared norm of
            the whole gradient, with the bits of `nagd.kernels.sq_norm` on it.
        grad : same structure, shapes and dtype as params
            Gradient of the loss at params.
        loss : float
            The loss at params (for a minibatch: the batch mean).
        lower_bound : float, array_like of shape (batch,), or None
            Overrides the bound for this step: a number, or the known minima
            ``f_i*`` of the batch's samples (their mean is used).

        Returns
        -------
        float
        """
        arrays = as_arrays(params, grad)
        loss = _finite_loss(loss)
        gg = _finite_sq_norm(arrays.sq_norm())
        lb = self._current_lower_bound(loss, lower_bound)
        gap = loss - lb
        ratio = 0.0 if self.history is None else kernels.polyak_lr(gg, gap, self.alpha, _FLOAT_MAX, self.eps)
        if self._blocked(loss, lb):
            return self._finish(0.0, 0.0, loss, lb, gg, ratio, False)
        lr = kernels.polyak_lr(gg, gap, self.alpha, self.max_lr, self.eps)
        if self.momentum == 0.0:
            if lr > 0.0:
                if arrays.single:
                    kernels.subtract_scaled(arrays.xs[0], arrays.gs[0], lr)
                else:
                    arrays.each(kernels.subtract_scaled, (arrays.xs, arrays.gs), lr)
            decrease = lr * gg
        else:
            decrease = self._momentum_step(arrays, lr, gg)
        return self._finish(lr, decrease, loss, lb, gg, ratio, ratio > self.max_lr)

    def _finish(self, lr, decrease, loss, lb, gg, ratio, capped):
        self.t += 1
        self.last_lr = float(lr)
        self.last_decrease = float(decrease)
        self.last_alpha = float(kernels.equivalent_alpha(1.0, loss, float(decrease), lb))
        if self.history is not None:
            hist = self.history
            hist["ratio"].append(float(ratio))
            hist["lr"].append(float(lr))
            hist["capped"].append(bool(capped))
            hist["gap"].append(loss - lb)
            hist["grad_sq_norm"].append(float(gg))
            hist["alpha"].append(self.last_alpha)
            hist["eq_lr"].append(float(decrease) / gg if gg > 0.0 else 0.0)
            hist["lower_bound"].append(lb)
        return lr


class PolyakSGD(_PolyakOptimizer):
    r"""The Polyak (NaGD) step with heavy-ball momentum, an edge-case policy and an unknown minimum.

    Parameters
    ----------
    alpha : float, default 1.0
        Fraction of ``f - L`` a step aims to remove, in (0, 2]. SPS's ``c`` is ``1/alpha``.
    lower_bound : float, "auto" or LevelBound, default 0.0
        Known lower bound ``L`` of the loss; ``"auto"`` estimates it online with
        a `LevelBound` (for losses whose minimum is unknown).
    max_lr : float or None, default 1.0
        Cap on the step size (SPS's ``gamma_b``); None means uncapped.
    momentum : float, default 0.0
        Heavy-ball factor mu in [0, 1).
    eps : float, default 0.0
        Added to ``||g||^2`` in the step size (jaxopt's ``delta``, optax's ``eps``).
    below : {"clip", "skip", "raise"}, default "clip"
        What to do when ``f <= L`` (see the section comment of this module).
    record : bool, default False
        Keep a per-step record in ``history`` (keys `HISTORY_FIELDS`).

    Notes
    -----
    .. math::

        \eta_t = \min\left(\eta_{max}, \frac{\alpha (f(x_t) - L)_+}{\|g_t\|^2 + \epsilon}\right),
        \quad v_{t+1} = \mu v_t - \eta_t g_t, \quad x_{t+1} = x_t + v_{t+1}

    With ``momentum=0``, ``eps=0`` it is `NaGD`; with ``alpha=1``, ``L=0`` it
    is jaxopt's ``PolyakSGD(max_stepsize=max_lr, delta=eps, momentum=mu)``.
    ``step`` also accepts a per-step ``lower_bound``: a number, or the known
    minima ``f_i*`` of the samples of the batch (their mean is used, so
    ``loss`` must be the batch mean), as SPS does.

    A wrong ``lower_bound`` stalls (too high) or makes steps too long (too
    low); use ``"auto"`` when the minimum is unknown.

    ``params`` may be float32 or float64: the squared norm, the gap and the
    step size are float64, and each update is rounded once to the dtype of
    ``params``.

    References
    ----------
    B. T. Polyak, "Introduction to optimization", 1987, section 5.3.
    N. Loizou, S. Vaswani, I. Laradji, S. Lacoste-Julien, "Stochastic Polyak
    step-size for SGD", AISTATS 2021 (SPS_max).
    google/jaxopt, ``jaxopt/_src/polyak_sgd.py`` (``PolyakSGD``);
    google-deepmind/optax, ``optax/_src/transform.py`` (``scale_by_polyak``).

    Examples
    --------
    >>> import numpy as np
    >>> from nagd.optim import PolyakSGD
    >>> x, opt = np.array([3.0, -4.0]), PolyakSGD(alpha=1.0, momentum=0.5)
    >>> opt.step(x, x.copy(), 0.5 * x @ x)
    0.5
    >>> x
    array([ 1.5, -2. ])
    """

    _state_names = ("velocity",)

    def __init__(self, alpha=1.0, lower_bound=0.0, max_lr=1.0, momentum=0.0, eps=0.0,
                 below="clip", record=False):
        super().__init__()
        self.alpha = _v.alpha(alpha)
        self.max_lr = _v.max_lr(max_lr)
        self.momentum = _v.unit("momentum", momentum)
        self.eps = _v.nonnegative("eps", eps)
        self.velocity = None
        self._common(lower_bound, below, record)

    def _momentum_step(self, arrays, lr, gg):
        (v,) = self._state(arrays, 1)
        gv = arrays.dot(v)
        arrays.each(kernels.polyak_momentum_step, (arrays.xs, arrays.gs, arrays.split(v)), lr, self.momentum)
        return lr * gg - self.momentum * gv             # g.(x_old - x_new) = lr |g|^2 - mu g.v_old


class NaGD(PolyakSGD):
    r"""Norm-adapted gradient descent: a Newton-Raphson step along the gradient (the Polyak step).

    Parameters
    ----------
    alpha : float, default 1.0
        Fraction of ``f - L`` the step aims to remove, in (0, 2].
    lower_bound : float, "auto" or LevelBound, default 0.0
        A known lower bound ``L`` of the loss (0 for non-negative losses), or
        ``"auto"`` for an online estimate (see `PolyakSGD`).
    max_lr : float or None, default 1.0
        Cap on the step size; None means no cap.

    Notes
    -----
    .. math:: x \leftarrow x - \min\left(\eta_{max}, \alpha \frac{f(x) - L}{\|g\|^2}\right) g

    The paper's configuration of `PolyakSGD` (no momentum, ``eps=0``), run by the
    same code: a zero gradient or ``f <= L`` takes no step, a NaN or infinite loss
    or gradient raises ValueError (the edge-case policy of this module). A ``lower_bound`` above the true
    minimum makes the iteration stall around the level set ``f = L``; one far
    below it makes the steps too long and can diverge.

    References
    ----------
    D. Sprunger, "Reparametrizing gradient descent", 2020, Algorithm 1.
    B. T. Polyak, "Introduction to optimization", 1987 (the Polyak step size).

    Examples
    --------
    >>> import numpy as np
    >>> from nagd.optim import NaGD
    >>> x, opt = np.array([3.0, -4.0]), NaGD(alpha=1.0)
    >>> f, g = 0.5 * x @ x, x.copy()       # f = |x|^2 / 2: lr = f/|g|^2 = 0.5 halves x
    >>> opt.step(x, g, f)
    0.5
    >>> x
    array([ 1.5, -2. ])
    """

    def __init__(self, alpha=1.0, lower_bound=0.0, max_lr=1.0):
        super().__init__(alpha=alpha, lower_bound=lower_bound, max_lr=max_lr)


class ALIG(_PolyakOptimizer):
    r"""ALI-G: the Polyak step with an epsilon, a cap and Nesterov-style momentum.

    Parameters
    ----------
    max_lr : float or None, default None
        Cap on the step size; None means uncapped.
    momentum : float, default 0.0
        Factor mu in [0, 1) of the Nesterov-style momentum.
    eps : float, default 1e-5
        Added to ``||g||^2``.
    alpha : float, default 1.0
        Fraction of ``f - L`` to remove (ALI-G uses 1).
    lower_bound : float, "auto" or LevelBound, default 0.0
        ALI-G assumes 0 (interpolation).
    below, record
        As in `PolyakSGD`.
    adjusted_momentum : bool, default False
        Use the official implementation's "adjusted" (PyTorch-like) momentum: the
        buffer sums raw gradients and is scaled by the current step size.

    Notes
    -----
    .. math::

        \eta_t = \min\left(\eta_{max}, \frac{\alpha (f(x_t) - L)_+}{\|g_t\|^2 + \epsilon}\right),
        \quad b_{t+1} = \mu b_t - \eta_t g_t, \quad x_{t+1} = x_t - \eta_t g_t + \mu b_{t+1}

    This is the official implementation's default ("standard") momentum. With
    ``adjusted_momentum=True`` it is ``b_{t+1} = mu b_t - g_t`` and
    ``x_{t+1} = x_t - eta_t g_t + eta_t mu b_{t+1}``, the official "adjusted"
    momentum. Both differ from the official code only for ``f < L``: there the
    reference takes a step of negative size, here ``below`` applies.

    References
    ----------
    L. Berrada, A. Zisserman, M. P. Kumar, "Training neural networks for and by
    interpolation", ICML 2020; oval-group/ali-g, ``alig/th/alig.py``.

    Examples
    --------
    >>> import numpy as np
    >>> from nagd.optim import ALIG
    >>> x = np.array([3.0, -4.0])
    >>> round(ALIG(eps=0.0).step(x, x.copy(), 0.5 * x @ x), 12)
    0.5
    """

    _state_names = ("buffer",)

    def __init__(self, max_lr=None, momentum=0.0, eps=1e-5, alpha=1.0, lower_bound=0.0,
                 below="clip", record=False, adjusted_momentum=False):
        super().__init__()
        self.max_lr = _v.max_lr(max_lr)
        self.momentum = _v.unit("momentum", momentum)
        self.eps = _v.nonnegative("eps", eps)
        self.alpha = _v.alpha(alpha)
        if not isinstance(adjusted_momentum, (bool, np.bool_)):
            raise TypeError(f"adjusted_momentum must be True or False, got {adjusted_momentum!r}")
        self.adjusted_momentum = bool(adjusted_momentum)
        self.buffer = None
        self._common(lower_bound, below, record)

    def _momentum_step(self, arrays, lr, gg):
        (b,) = self._state(arrays, 1)
        gb = arrays.dot(b)
        mu = self.momentum
        views = (arrays.xs, arrays.gs, arrays.split(b))
        if self.adjusted_momentum:
            arrays.each(kernels.alig_adjusted_step, views, lr, mu)
            return lr * ((1.0 + mu) * gg - mu * mu * gb)                 # g.(x_old - x_new)
        arrays.each(kernels.alig_step, views, lr, mu)
        return (1.0 + mu) * lr * gg - mu * mu * gb                       # g.(x_old - x_new)
