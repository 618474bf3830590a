"""Input checks and derivative adapters of the scipy methods: options, ``x0``, ``bounds``, the
callback's form, ``fun``/``jac`` return values, ``jac=True`` and finite differences."""
import dataclasses
import inspect
import math
import operator

import numpy as np
from scipy.optimize import Bounds

from .. import _validation as _v

OPTION_NAMES = {
    "nagd": ("alpha", "lower_bound", "max_lr", "maxiter", "tol", "gtol", "disp", "return_all", "compiled", "stop"),
    "bundle": ("alpha", "lower_bound", "max_lr", "maxiter", "tol", "gtol", "disp", "return_all", "compiled", "stop",
               "memory"),
}
"""The options each method takes (``stop`` is refused by ``bundle`` with a message, not ignored)."""


def defaults(method, auto, n=None):
    """The default of every option of ``method``, which depends on ``lower_bound="auto"`` and on n.

    ``max_lr``: 1.0, but no cap (None) with ``"auto"`` (measured: the level rule does better
    uncapped) and for ``bundle`` (a projection onto a set that holds the minimisers cannot
    overshoot). ``gtol``: 1e-8, but 1e-6 with ``"auto"`` (the level rule rarely resolves 1e-8,
    measured). ``memory``: ``min(n + 2, 100)`` cuts for ``bundle`` (measured, docs/when.md), 1 for
    ``nagd``.
    """
    return {"alpha": 1.0, "lower_bound": 0.0, "max_lr": None if auto or method == "bundle" else 1.0,
            "maxiter": 10_000, "tol": 1e-8, "gtol": 1e-6 if auto else 1e-8, "disp": False, "return_all": False,
            "compiled": None, "stop": None,
            "memory": (None if n is None else min(n + 2, 100)) if method == "bundle" else 1}


@dataclasses.dataclass(frozen=True)
class Options:
    """Every option of one run, checked, with its method's defaults filled in."""

    method: str
    alpha: float
    lower_bound: float        # nan with "auto"
    auto: bool
    max_lr: float             # inf for no cap
    maxiter: int
    tol: float
    gtol: float
    disp: bool
    return_all: bool
    compiled: object          # None, True or False
    stop: object              # None or a rule with update(lr)
    memory: object            # cuts kept (1 for nagd); None until n is known


def _flag(name, value):
    if isinstance(value, (bool, np.bool_)) or (isinstance(value, int) and value in (0, 1)):
        return bool(value)
    raise TypeError(f"{name} must be True or False, got {value!r}")


def check_options(method, given):
    """Return the `Options` of a run of ``method`` from the options the caller ``given`` (a dict).

    Raises ValueError or TypeError naming the option, its rule and the value.
    """
    lower_bound, auto = _lower_bound(given.get("lower_bound", 0.0))
    o = defaults(method, auto)
    o.update(given)
    alpha = _v.alpha(o["alpha"])
    max_lr = _v.max_lr(o["max_lr"])
    maxiter = o["maxiter"]
    if isinstance(maxiter, (bool, np.bool_)):
        raise TypeError(f"maxiter must be a non-negative integer, got {maxiter!r}")
    try:
        maxiter = operator.index(maxiter)
    except TypeError:
        raise TypeError(f"maxiter must be a non-negative integer, got {maxiter!r}") from None
    if maxiter < 0:
        raise ValueError(f"maxiter must be a non-negative integer, got {maxiter!r}")
    tol = _v.nonnegative("tol", o["tol"])
    gtol = _v.nonnegative("gtol", o["gtol"])
    compiled = o["compiled"]
    if compiled not in (None, True, False):
        raise ValueError(f"compiled must be None, True or False, got {compiled!r}")
    stop = o["stop"]
    if stop is not None:
        if method == "bundle":
            raise ValueError("stop is an option of method='nagd' only: the bundle method certifies its own gap")
        if not callable(getattr(stop, "update", None)):
            raise TypeError(f"stop must have an update(lr) method, got {stop!r}")
    memory = o["memory"]
    if memory is not None:
        memory = _v.positive_int("memory", memory)
    return Options(method, alpha, lower_bound, auto, max_lr, maxiter, tol, gtol, _flag("disp", o["disp"]),
                   _flag("return_all", o["return_all"]), compiled, stop, memory)


def with_size(opts, n):
    """opts with the defaults that depend on the number of variables n filled in."""
    if opts.memory is None:
        return dataclasses.replace(opts, memory=defaults(opts.method, opts.auto, n)["memory"])
    return opts


def _is_jitted(func):
    """True if func is a Numba CPU dispatcher (False under NUMBA_DISABLE_JIT)."""
    try:
        from numba.core.registry import CPUDispatcher
    except ImportError:  # pragma: no cover - numba layout changed
        return False
    return isinstance(func, CPUDispatcher)


def _scalar(value):
    """Return fun's value as a Python float; ValueError/TypeError for anything but one real number."""
    arr = np.asarray(value)
    if arr.size != 1:
        raise ValueError(f"fun must return a scalar, got an array of shape {arr.shape}")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"fun must return a real number, got {value!r}")
    return float(arr.reshape(()))


def _gradient(value, n):
    """Return jac's value as a contiguous float64 array of shape (n,), or raise ValueError."""
    g = np.asarray(value)
    if g.shape != (n,):
        raise ValueError(f"jac must return an array of shape ({n},) like x0, got shape {g.shape}")
    if g.dtype.kind not in "biuf":
        raise TypeError(f"jac must return real numbers, got dtype {g.dtype}")
    return np.ascontiguousarray(g, dtype=np.float64)


def _lower_bound(value):
    """Return (L, auto): a finite number, or "auto" (L = nan, auto = True)."""
    if isinstance(value, str):
        if value != "auto":
            raise ValueError(f"lower_bound must be a finite number or 'auto', got {value!r}")
        return math.nan, True
    return _v.finite("lower_bound", value), False


def _x0(x0):
    """Copy x0 to a new float64 1-D array (0-d becomes shape (1,)); reject other shapes and non-finite values."""
    if np.iscomplexobj(x0):
        raise TypeError(f"x0 must be real: nagd minimizes over real numbers, got {x0!r}")
    try:
        x = np.array(x0, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"x0 must be an array of real numbers, got {x0!r}") from None
    if x.ndim == 0:
        x = x.reshape(1)
    if x.ndim != 1:
        raise ValueError(f"x0 must be 1-D (or a scalar), got shape {x.shape}")
    if x.size == 0:
        raise ValueError("x0 must have at least one element, got shape (0,)")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"x0 must be finite, got {x0!r}")
    return x


def _bounds(bounds, n):
    """Return (lb, ub) as float64 arrays of shape (n,) (-inf/inf for none), or two empty arrays for no bounds.

    bounds is None, a `scipy.optimize.Bounds`, or a sequence of n ``(min, max)`` pairs with
    None (or an infinity) for no bound, as `scipy.optimize.minimize` accepts them.
    """
    empty = np.empty(0)
    if bounds is None:
        return empty, empty
    if isinstance(bounds, Bounds):
        lo, hi = bounds.lb, bounds.ub
        try:
            lo = np.broadcast_to(np.asarray(lo, dtype=np.float64), (n,)).copy()
            hi = np.broadcast_to(np.asarray(hi, dtype=np.float64), (n,)).copy()
        except ValueError:
            raise ValueError(f"bounds must have one (min, max) pair per entry of x0 ({n}), got "
                             f"lb of shape {np.shape(bounds.lb)} and ub of shape {np.shape(bounds.ub)}") from None
    else:
        try:
            pairs = list(bounds)
        except TypeError:
            raise TypeError(f"bounds must be a scipy.optimize.Bounds or a sequence of (min, max) pairs, "
                            f"got {bounds!r}") from None
        if len(pairs) != n:
            raise ValueError(f"bounds must have one (min, max) pair per entry of x0 ({n}), got {len(pairs)}")
        lo, hi = np.empty(n), np.empty(n)
        for i, pair in enumerate(pairs):
            try:
                a, b = pair
                lo[i] = -math.inf if a is None else float(a)
                hi[i] = math.inf if b is None else float(b)
            except (TypeError, ValueError):
                raise ValueError(f"bounds[{i}] must be a (min, max) pair of numbers or None, got {pair!r}") from None
    if np.any(np.isnan(lo)) or np.any(np.isnan(hi)):
        raise ValueError("bounds must not contain NaN")
    if np.any(lo > hi):
        i = int(np.argmax(lo > hi))
        raise ValueError(f"bounds[{i}]: the lower bound {float(lo[i])!r} exceeds the upper bound {float(hi[i])!r}")
    if np.all(lo == -math.inf) and np.all(hi == math.inf):
        return empty, empty
    if np.any(lo == math.inf) or np.any(hi == -math.inf):
        raise ValueError("bounds: a lower bound of +inf or an upper bound of -inf leaves no feasible point")
    return lo, hi


def _callback_kind(callback):
    """0 for no callback, 1 for callback(xk), 2 for callback(intermediate_result)."""
    if callback is None:
        return 0
    if not callable(callback):
        raise TypeError(f"callback must be callable or None, got {callback!r}")
    try:
        params = inspect.signature(callback).parameters
    except (TypeError, ValueError):  # some builtins have no signature
        return 1
    return 2 if set(params) == {"intermediate_result"} else 1


class _Memoized:
    """Split fun(x) -> (f, g) into fun and jac calling the user's function once per point."""

    def __init__(self, fun):
        self.fun = fun
        self.x = None
        self.g = None

    def value(self, x, *args):
        out = self.fun(x, *args)
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            raise TypeError(f"with jac=True, fun must return a pair (f, gradient), got {type(out).__name__}")
        f, g = out
        self.x, self.g = x.copy(), g
        return f

    def jac(self, x, *args):
        if self.x is None or not np.array_equal(x, self.x):
            self.value(x, *args)
        return self.g


_FD_METHODS = ("2-point", "3-point")


class _FiniteDifferences:
    """The gradient by forward ('2-point') or central ('3-point') differences, inside the box.

    Steps are relative, as in `scipy.optimize.approx_derivative`: ``h = r * max(1, |x_i|)`` with
    ``r = sqrt(eps)`` for forward and ``eps**(1/3)`` for central differences, rounded so that
    ``x_i + h`` is exact. Near a bound the forward difference turns backward and the central one
    becomes the one-sided three-point formula. Every call of fun is counted in ``calls``.
    """

    def __init__(self, fun, method, lb, ub):
        self.fun, self.central = fun, method == "3-point"
        self.rel = np.finfo(np.float64).eps ** (1.0 / 3.0 if self.central else 0.5)
        self.lb, self.ub = lb, ub
        self.calls = 0

    def _f(self, x, i, h):
        xp = x.copy()
        xp[i] += h
        self.calls += 1
        v = self.fun(xp)
        return v if isinstance(v, float) else _scalar(v)

    def __call__(self, x, f0):
        n = x.shape[0]
        g = np.empty(n)
        boxed = self.lb.shape[0] != 0
        for i in range(n):
            h = self.rel * max(1.0, abs(x[i]))
            h = (x[i] + h) - x[i]
            lo, hi = (self.lb[i], self.ub[i]) if boxed else (-math.inf, math.inf)
            if not self.central:
                if x[i] + h > hi:
                    h = -h
                g[i] = (self._f(x, i, h) - f0) / h
            elif lo <= x[i] - h and x[i] + h <= hi:
                g[i] = (self._f(x, i, h) - self._f(x, i, -h)) / (2.0 * h)
            else:
                if x[i] + 2.0 * h > hi:
                    h = -h
                g[i] = (-3.0 * f0 + 4.0 * self._f(x, i, h) - self._f(x, i, 2.0 * h)) / (2.0 * h)
        return g
