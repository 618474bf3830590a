"""Argument checks shared by the public functions and classes."""
import math

import numpy as np


AUTO_BOUND = "nagd.minimize, NaGD, PolyakSGD, ALIG, MoMo and MoMoAdam"
"""Where ``lower_bound='auto'`` (an estimate of the bound) is taken; a test checks the list."""


def _what(name, kind):
    """What name must be: kind, or for lower_bound a finite number or 'auto' and where 'auto' is taken."""
    if name == "lower_bound":   # callers that take 'auto' handle strings first: what reaches here is bad
        return f"a finite number or 'auto' (the latter in {AUTO_BOUND})"
    return kind


def _real(name, value):
    if name == "lower_bound" and isinstance(value, str) and value == "auto":  # a caller that takes numbers only
        raise TypeError(f"lower_bound must be a finite number here: 'auto' is taken only by {AUTO_BOUND}")
    # float() would also read "1" or b"1": text is not a number, whatever it spells
    if isinstance(value, (bool, np.bool_, str, bytes, bytearray)):
        raise TypeError(f"{name} must be {_what(name, 'a real number')}, got {value!r}")
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be {_what(name, 'a real number')}, got {value!r}") from None
    return out


def finite(name, value):
    """Return float(value); raise ValueError unless finite (a lower_bound message also names 'auto')."""
    out = _real(name, value)
    if not math.isfinite(out):
        raise ValueError(f"{name} must be {_what(name, 'a finite number')}, got {value!r}")
    return out


def positive(name, value):
    """Return float(value); raise ValueError unless positive and finite."""
    out = _real(name, value)
    if not (math.isfinite(out) and out > 0.0):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return out


def nonnegative(name, value):
    """Return float(value); raise ValueError unless >= 0 and finite."""
    out = _real(name, value)
    if not (math.isfinite(out) and out >= 0.0):
        raise ValueError(f"{name} must be a non-negative finite number, got {value!r}")
    return out


def unit(name, value):
    """Return float(value); raise ValueError unless in [0, 1)."""
    out = _real(name, value)
    if not (0.0 <= out < 1.0):
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return out


def positive_int(name, value):
    """Return int(value); raise ValueError unless an integer >= 1 (bool is refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def seconds(name, value, zero=False):
    """Return float(value): a finite number of seconds, positive (or, with ``zero``, non-negative).

    Text that reads as a number is taken (an option of the command line); anything else raises
    ValueError naming ``name`` and ``value`` as given.
    """
    try:
        out = float(value)
    except (TypeError, ValueError):
        out = math.nan
    if not (math.isfinite(out) and (out >= 0.0 if zero else out > 0.0)):
        what = "a non-negative" if zero else "a positive finite"
        raise ValueError(f"{name} must be {what} number of seconds, got {value!r}")
    return out


def max_lr(value):
    """Return the cap as a float: None means no cap (inf)."""
    if value is None:
        return math.inf
    out = _real("max_lr", value)
    if not out > 0.0:  # inf is allowed: uncapped
        raise ValueError(f"max_lr must be a positive number or None, got {value!r}")
    return out


def alpha(value):
    """Return float(alpha); raise ValueError unless 0 < alpha <= 2.

    The paper uses alpha in [0, 2]: above 2 the first-order model predicts that a
    step removes more than twice f - L, and the iteration diverges or stalls, so
    we refuse it rather than warn.
    """
    out = _real("alpha", value)
    if not (0.0 < out <= 2.0):
        raise ValueError(f"alpha must be in (0, 2], got {value!r}")
    return out


def flat_pair(params, grad):
    """Check that params and grad are contiguous 1-D float32/float64 arrays of one shape and dtype."""
    for name, a in (("params", params), ("grad", grad)):
        if not isinstance(a, np.ndarray):
            raise TypeError(f"{name} must be a numpy.ndarray, got {type(a).__name__}")
        if a.ndim != 1:
            raise ValueError(f"{name} must be 1-D, got shape {a.shape}")
        if a.dtype not in (np.float32, np.float64):
            raise TypeError(f"{name} must be float32 or float64, got {a.dtype}")
        if not a.flags.c_contiguous:
            raise ValueError(f"{name} must be contiguous")
    if not params.flags.writeable:
        raise ValueError("params must be writeable: it is updated in place")
    if grad.shape != params.shape or grad.dtype != params.dtype:
        raise ValueError(
            f"grad must match params in shape and dtype: params {params.shape} {params.dtype}, "
            f"grad {grad.shape} {grad.dtype}"
        )
