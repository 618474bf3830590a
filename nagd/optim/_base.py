"""The optimizer protocol, the checks every optimizer shares, and the equivalent alpha / lr.

Every optimizer follows one protocol::

    lr = opt.step(params, grad, loss)   # params updated in place; returns the lr used
    opt.last_lr, opt.last_alpha         # the step's learning rate and equivalent alpha
    opt.reset()                         # forget the state (moments, step count)
    d = opt.state_dict()                # hyperparameters and state as plain data
    opt.load_state_dict(d)              # restore them exactly

``params`` is one float32 or float64 array of any shape, a list or tuple of
such arrays, or a dict of them, and ``grad`` the same structure with the same
shapes and dtype; every array is C-contiguous and all have one dtype. A step
treats them as one vector, their concatenation (`nagd.optim._arrays`), and
gives bit for bit what the same step gives on it. State arrays are 1-D, one
element per element of that vector, created on the first step in its dtype.
Scalars (``loss``, learning rates, norms) are Python floats (float64);
arithmetic on float32 parameters rounds each update to float32.

`Optimizer.state_dict` returns plain data: dicts of Python scalars, lists and
NumPy arrays (copies), with the class name and `STATE_VERSION`.
`Optimizer.load_state_dict` checks all of it before it changes anything.

The *equivalent alpha* of a step is the fraction of ``loss - lower_bound``
that the first-order model ``f(x - d) ~ f(x) - g.d`` predicts the step ``d``
removes: ``g.d / (loss - lower_bound)``. For NaGD it equals ``alpha`` unless
the step is capped by ``max_lr``. It is ``None`` when no ``loss`` is given.
"""
import functools
import inspect
import math

import numpy as np

from .. import _validation as _v
from .. import kernels
from ._arrays import as_arrays

__all__ = ["Optimizer", "as_loss", "equivalent_alpha", "equivalent_lr", "STATE_VERSION"]

#: Version of the layout of `Optimizer.state_dict`; `Optimizer.load_state_dict` reads this one.
STATE_VERSION = 1

_VALUES = {}      # the _Declared classes by name, to rebuild those given as constructor arguments


class _Declared:
    """Records each instance's constructor arguments, so that repr is derived from the signature.

    A subclass declares its hyperparameters once, as the parameters of its ``__init__``; the
    arguments it was built with (defaults filled in) are kept in ``_arguments`` and printed by
    ``repr`` in signature order, so ``eval(repr(obj))`` builds an equal object.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _VALUES.setdefault(cls.__name__, cls)
        init = cls.__dict__.get("__init__")
        if init is None:
            return
        signature = inspect.signature(init)

        @functools.wraps(init)
        def __init__(self, *args, **kw):
            if type(self).__init__ is __init__:          # the outermost constructor only
                bound = signature.bind(self, *args, **kw)
                bound.apply_defaults()
                self._arguments = dict(list(bound.arguments.items())[1:])
            init(self, *args, **kw)

        cls.__init__ = __init__

    def __repr__(self):
        args = ", ".join(f"{k}={_literal(v)}" for k, v in getattr(self, "_arguments", {}).items())
        return f"{type(self).__name__}({args})"


def _literal(value):
    """repr of a constructor argument, NumPy scalars as Python numbers (so the repr evaluates without numpy)."""
    if isinstance(value, np.bool_):
        return repr(bool(value))
    if isinstance(value, np.integer):
        return repr(int(value))
    if isinstance(value, np.floating):
        return repr(float(value))
    if isinstance(value, tuple):
        inner = ", ".join(_literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    return repr(value)


def _plain(value):
    """A constructor argument as plain data: Python scalars, lists, and a `_Declared` value as a dict."""
    if isinstance(value, _Declared):
        return {"class": type(value).__name__, **{k: _plain(v) for k, v in value._arguments.items()}}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _argument(value):
    """The inverse of `_plain`: lists become tuples, a dict with a "class" the object it describes."""
    if isinstance(value, list):
        return tuple(_argument(v) for v in value)
    if isinstance(value, dict):
        cls = _VALUES.get(value.get("class"))
        if cls is None or issubclass(cls, Optimizer):
            raise ValueError(f"cannot rebuild {value!r}: not a value nagd.optim knows")
        return cls(**{k: _argument(v) for k, v in value.items() if k != "class"})
    return value


# ------------------------------------------------------------------------------------------
# Kinds of the scalar state: how each is checked, copied out and restored.

def _is_number(v):
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


class _Kind:
    """One kind of scalar state: a description for messages, a test, and the conversions."""

    def __init__(self, what, test, load=lambda v, fresh: v, dump=lambda v: v):
        self.what, self.test, self.load, self.dump = what, test, load, dump


_COUNT = _Kind("a non-negative integer",
               lambda v, fresh: isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) and v >= 0,
               lambda v, fresh: int(v))
_NUMBER = _Kind("a number", lambda v, fresh: _is_number(v), lambda v, fresh: float(v))
_NUMBER_OR_NONE = _Kind("a number or None", lambda v, fresh: v is None or _is_number(v),
                        lambda v, fresh: None if v is None else float(v))


class Optimizer(_Declared):
    """Base class: the step protocol, the Rosetta-stone readouts, the state protocol, and repr.

    A subclass declares its state: ``_state_names`` (the state arrays, None until the first
    step) and ``_scalar_state`` (every other value a step changes, with its `_Kind`);
    everything else it holds must follow from its constructor's arguments, which
    `state_dict` checks.
    """

    lower_bound = 0.0
    check_finite = False
    _state_names = ()        # the state arrays (None until the first step)
    #: The scalar state a step changes, by name: restored by `load_state_dict`.
    _scalar_state = {"t": _COUNT, "last_lr": _NUMBER_OR_NONE, "last_alpha": _NUMBER_OR_NONE,
                     "last_decrease": _NUMBER_OR_NONE}

    def __init__(self):
        self.t = 0
        self.last_lr = None
        self.last_alpha = None
        self.last_decrease = None

    def reset(self):
        """Forget all state: step count, moment arrays and readouts."""
        self.t = 0
        self.last_lr = self.last_alpha = self.last_decrease = None
        for name in self._state_names:
            setattr(self, name, None)

    # ------------------------------------------------------------------ the state protocol

    def state_dict(self):
        """Return the hyperparameters and the state as plain data.

        Returns
        -------
        dict
            ``{"class": name, "version": STATE_VERSION, "hyperparameters": {...},
            "state": {...}, "arrays": {...}}``. ``hyperparameters`` are the constructor's
            arguments (Python scalars and lists; a `LevelBound` given as ``lower_bound`` as a
            dict of its own arguments with ``"class": "LevelBound"``); ``state`` holds the
            step count ``t``, the readouts ``last_lr``, ``last_alpha``, ``last_decrease`` and
            the other values a step changes (for example the current ``lr`` of
            `AlphaMonitoredSGD`, the ``"auto"`` bound's estimate as a dict of numbers, the
            ``history`` of ``record=True``); ``arrays`` holds the state arrays (momentum,
            moments: copies, 1-D, one element per parameter, or None before the first step).

        Raises
        ------
        TypeError
            If the optimizer holds an attribute that is neither a hyperparameter nor state
            (a state_dict could not restore it).
        ValueError
            If a setting was changed after construction (``opt.lr = ...``): the
            constructor's arguments would not restore it.

        Examples
        --------
        >>> import numpy as np
        >>> from nagd.optim import Adam
        >>> opt, x = Adam(lr=0.1), np.ones(3)
        >>> _ = opt.step(x, np.full(3, 0.5))
        >>> d = opt.state_dict()
        >>> d["class"], d["hyperparameters"]["lr"], d["state"]["t"], d["arrays"]["m"]
        ('Adam', 0.1, 1, array([0.05, 0.05, 0.05]))
        >>> other = Adam()
        >>> other.load_state_dict(d)
        >>> other
        Adam(lr=0.1, betas=(0.9, 0.999), eps=1e-08, lower_bound=0.0, check_finite=False)
        """
        hyperparameters = {k: _plain(v) for k, v in self._arguments.items()}
        fresh = type(self)(**{k: _argument(v) for k, v in hyperparameters.items()})
        state_keys = set(self._scalar_state) | set(self._state_names)
        name = type(self).__name__
        for key, value in vars(self).items():
            if key == "_arguments" or key in state_keys:
                continue
            if key not in vars(fresh):
                raise TypeError(f"{name}.{key}: not a hyperparameter or state of {name}, so state_dict() "
                                "cannot hold it")
            if not _same(value, getattr(fresh, key)):
                raise ValueError(f"{name}.{key} is {value!r}, not the {getattr(fresh, key)!r} its constructor "
                                 "arguments give: state_dict() holds those; build the optimizer with the value")
        state = {key: kind.dump(getattr(self, key)) for key, kind in self._scalar_state.items()}
        arrays = {key: None if getattr(self, key) is None else getattr(self, key).copy() for key in self._state_names}
        return {"class": name, "version": STATE_VERSION, "hyperparameters": hyperparameters, "state": state,
                "arrays": arrays}

    def load_state_dict(self, state_dict):
        """Restore hyperparameters and state from `state_dict`'s value; the next step continues exactly.

        Everything is checked before anything changes: on an error the optimizer is as it was.

        Parameters
        ----------
        state_dict : dict
            As returned by `state_dict` of an optimizer of the same class (also after a
            round trip through JSON and ``.npz`` files: lists for tuples, any real numbers).

        Raises
        ------
        ValueError
            For the state of another class or version, hyperparameters the class does not
            take, a missing or unknown state entry, a value of another type, state arrays of
            different shapes or dtypes, or arrays of another shape or dtype than the state
            this optimizer already holds (call `reset` first to load those).
        """
        name = type(self).__name__
        if not isinstance(state_dict, dict):
            raise ValueError(f"state_dict must be a dict as state_dict() returns, got {type(state_dict).__name__}")
        if set(state_dict) != {"class", "version", "hyperparameters", "state", "arrays"}:
            raise ValueError(f"state_dict must have the keys class, version, hyperparameters, state and arrays, "
                             f"got {sorted(map(str, state_dict))}")
        if state_dict["class"] != name:
            raise ValueError(f"state_dict holds the state of a {state_dict['class']}, not of a {name}")
        if state_dict["version"] != STATE_VERSION:
            raise ValueError(f"state_dict has version {state_dict['version']!r}; this version of nagd reads "
                             f"{STATE_VERSION}")
        hyper, state, arrays = state_dict["hyperparameters"], state_dict["state"], state_dict["arrays"]
        if not all(isinstance(part, dict) for part in (hyper, state, arrays)):
            raise ValueError("state_dict's hyperparameters, state and arrays must be dicts")
        try:
            fresh = type(self)(**{k: _argument(v) for k, v in hyper.items()})
        except (TypeError, ValueError) as exc:
            raise ValueError(f"state_dict's hyperparameters do not build a {name}: {exc}") from None
        for part, given, keys in (("state", state, set(fresh._scalar_state)),
                                  ("arrays", arrays, set(fresh._state_names))):
            unknown, missing = sorted(set(given) - keys), sorted(keys - set(given))
            if unknown or missing:
                raise ValueError(f"state_dict's {part} does not match a {name}'s (unknown: {unknown}, "
                                 f"missing: {missing})")
        values = {}
        for key, kind in fresh._scalar_state.items():
            value = state[key]
            if not kind.test(value, getattr(fresh, key)):
                raise ValueError(f"{name}.{key} is {_short(value)}, expected {kind.what}")
            values[key] = kind.load(value, getattr(fresh, key))
        shape = None
        for key in fresh._state_names:
            value = arrays[key]
            if value is None:
                values[key] = None
                continue
            if not isinstance(value, np.ndarray) or value.ndim != 1 or value.dtype not in (np.float32, np.float64):
                raise ValueError(f"{name}.{key} must be None or a 1-D float32 or float64 array, got {_short(value)}")
            held = getattr(self, key)
            if shape is None:
                shape = (value.shape, value.dtype, key)
            elif (value.shape, value.dtype) != shape[:2]:
                raise ValueError(f"{name}.{key} has shape {value.shape} {value.dtype}, but {shape[2]} has "
                                 f"{shape[0]} {shape[1]}")
            if isinstance(held, np.ndarray) and (held.shape, held.dtype) != (value.shape, value.dtype):
                raise ValueError(f"{name}.{key} has shape {value.shape} {value.dtype}, where this {name} holds "
                                 f"{held.shape} {held.dtype}; call reset() first to load another shape")
            values[key] = np.array(value, order="C", copy=True)
        vars(self).clear()
        vars(self).update(vars(fresh))
        for key, value in values.items():
            setattr(self, key, value)

    # ------------------------------------------------------------------ the step's parts

    def _begin(self, params, grad, loss):
        """Check the arrays and convert the loss (None stays None) before anything changes.

        Returns ``(arrays, loss)``, arrays as `nagd.optim._arrays.Arrays`. With
        ``check_finite`` a NaN or infinite loss or gradient raises ValueError here.
        """
        arrays = as_arrays(params, grad)
        if loss is not None:
            loss = as_loss(loss)
        if self.check_finite:
            if loss is not None and not math.isfinite(loss):
                raise ValueError(f"loss must be a finite number, got {loss!r} (check_finite=True)")
            _finite_sq_norm(arrays.sq_norm())
        return arrays, loss

    def _record(self, lr, decrease, loss):
        self.last_lr = float(lr)
        self.last_decrease = float(decrease)
        if loss is None:
            self.last_alpha = None
        else:
            self.last_alpha = float(kernels.equivalent_alpha(1.0, loss, float(decrease), self.lower_bound))

    def _state(self, arrays, n, fill=0.0):
        """Create (on first use, filled with ``fill``) and return the first n state arrays: flat, n elements
        of the params' dtype."""
        state = [getattr(self, name) for name in self._state_names[:n]]
        if state[0] is None or state[0].shape != (arrays.n,) or state[0].dtype != arrays.dtype:
            if state[0] is not None and self.t > 0:
                raise ValueError(
                    f"params changed from {state[0].size} {state[0].dtype} elements to "
                    f"{arrays.n} {arrays.dtype}; call reset() first"
                )
            state = [np.full(arrays.n, fill, arrays.dtype) for _ in range(n)]
            for name, a in zip(self._state_names, state):
                setattr(self, name, a)
        return state


def _same(a, b):
    """Whether two attribute values are equal (arrays element-wise, with their shapes and dtypes)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape
                and a.dtype == b.dtype and np.array_equal(a, b))
    if isinstance(a, _Declared) and isinstance(b, _Declared):
        return type(a) is type(b) and _plain(a) == _plain(b)
    return type(a) is type(b) and a == b


def _short(value):
    """A value for a one-line message: arrays by shape and dtype, long reprs cut."""
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} {value.dtype}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def as_loss(loss):
    """Return a loss as a Python float: a real number or any one-element real array, as `nagd.minimize` accepts.

    Parameters
    ----------
    loss : float, int, NumPy scalar or array_like of size 1

    Returns
    -------
    float

    Raises
    ------
    TypeError
        For a non-real value (complex, string, object).
    ValueError
        For an array of more than one element.
    """
    if type(loss) is float:             # the common case, on every step (np.asarray costs a step 0.3 us)
        return loss
    arr = np.asarray(loss)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"loss must be a real number, got {loss!r}")
    if arr.size != 1:
        raise ValueError(f"loss must be a scalar or a one-element array, got an array of shape {arr.shape}")
    return float(arr.reshape(()))


def _finite_loss(loss):
    out = as_loss(loss)
    if not math.isfinite(out):
        raise ValueError(f"loss must be a finite number, got {loss!r}")
    return out


def _finite_sq_norm(gg):
    if not math.isfinite(gg):
        raise ValueError(f"grad must be finite, got a squared norm of {gg!r}")
    return gg


def equivalent_alpha(lr, loss, grad, lower_bound=0.0):
    """Return the equivalent NaGD alpha of a plain gradient step of size lr.

    Parameters
    ----------
    lr : float
        Learning rate of the step.
    loss : float
        f(x) before the step.
    grad : ndarray of shape (n,), float32 or float64
        Gradient at x.
    lower_bound : float, default 0.0

    Returns
    -------
    float
        ``lr * ||grad||^2 / (loss - lower_bound)``; 0.0 for a zero step and
        ``inf`` for a non-zero step when ``loss <= lower_bound``.
    """
    g = np.ascontiguousarray(grad, dtype=np.float64).ravel()
    return float(kernels.equivalent_alpha(_v.nonnegative("lr", lr), _finite_loss(loss),
                                          kernels.sq_norm(g), _v.finite("lower_bound", lower_bound)))


def equivalent_lr(alpha, loss, grad, lower_bound=0.0, max_lr=None):
    """Return the learning rate of the NaGD step with this alpha (the equivalent lr).

    Parameters
    ----------
    alpha : float
    loss : float
        f(x) at the step.
    grad : ndarray of shape (n,), float32 or float64
    lower_bound : float, default 0.0
    max_lr : float or None, default None
        Cap applied by the step; None for none.

    Returns
    -------
    float
        ``min(max_lr, alpha * (loss - lower_bound) / ||grad||^2)``; 0.0 when the
        gradient is zero or ``loss <= lower_bound``.
    """
    g = np.ascontiguousarray(grad, dtype=np.float64).ravel()
    return float(kernels.equivalent_lr(_v.nonnegative("alpha", alpha), _finite_loss(loss),
                                       kernels.sq_norm(g), _v.finite("lower_bound", lower_bound),
                                       _v.max_lr(max_lr)))
