"""Finite-difference gradient checks (central differences, CS231n style)."""
import numpy as np

__all__ = ["numerical_gradient", "rel_error"]


def numerical_gradient(f, x, df=None, h=1e-6):
    """Central-difference gradient of ``sum(f(x) * df)`` with respect to x.

    Parameters
    ----------
    f : callable
        ``f(x) -> ndarray or float``. It may ignore its argument and read x
        through a closure: x is perturbed *in place* and restored afterwards.
    x : ndarray, float64
        The point; must be writeable.
    df : ndarray like f(x), or None
        Upstream gradient; None means 1 (f returns a scalar).
    h : float, default 1e-6
        Step of the central difference.

    Returns
    -------
    ndarray like x
        The estimate; its error is O(h^2) plus rounding, so use float64.

    Raises
    ------
    TypeError
        If x is not a NumPy array.
    ValueError
        If x is not writeable or h is not positive.
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"x must be a numpy.ndarray, got {type(x).__name__}")
    if not x.flags.writeable:
        raise ValueError("x must be writeable: it is perturbed in place")
    if not h > 0.0:
        raise ValueError(f"h must be a positive number, got {h!r}")
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    while not it.finished:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        plus = np.asarray(f(x), dtype=np.float64).copy()
        x[i] = old - h
        minus = np.asarray(f(x), dtype=np.float64).copy()
        x[i] = old
        diff = plus - minus
        grad[i] = (np.sum(diff * df) if df is not None else np.sum(diff)) / (2.0 * h)
        it.iternext()
    return grad


def rel_error(a, b):
    """Largest elementwise relative error ``|a - b| / max(1e-8, |a| + |b|)``.

    Parameters
    ----------
    a, b : array_like of one shape

    Returns
    -------
    float
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have one shape, got {a.shape} and {b.shape}")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))
