"""Losses: ``loss(pred, target) -> (value, dpred)``, the mean over the batch.

``value`` is a Python float accumulated in float64; ``dpred`` has the shape and
dtype of ``pred``.
"""
import numpy as np

from . import kernels as _k

__all__ = ["mse", "mean_distance"]


def _pair(pred, target):
    pred = np.asarray(pred)
    if pred.dtype not in (np.float32, np.float64):
        raise TypeError(f"pred must be float32 or float64, got {pred.dtype}")
    target = np.asarray(target)
    if target.shape != pred.shape:
        raise ValueError(f"target must have the shape of pred {pred.shape}, got {target.shape}")
    if pred.size == 0:
        raise ValueError("pred must not be empty")
    return pred, target


def mse(pred, target):
    """Mean squared error over all elements (PyTorch's ``MSELoss()``).

    Parameters
    ----------
    pred : ndarray of shape (n, ...), float32 or float64
    target : ndarray of the same shape

    Returns
    -------
    value : float
        ``mean((pred - target)**2)``, summed in float64.
    dpred : ndarray like pred
        ``2 * (pred - target) / pred.size``.

    Raises
    ------
    ValueError
        If the shapes differ or pred is empty.
    TypeError
        If pred is not float32 or float64.
    """
    pred, target = _pair(pred, target)
    pred = np.ascontiguousarray(pred)
    grad = np.empty(pred.shape, dtype=pred.dtype)
    value = _k.mse_kernel(pred, np.ascontiguousarray(target, dtype=pred.dtype), grad)
    return value, grad


def mean_distance(pred, target):
    """Mean Euclidean distance between predicted and expected rows (the paper's section-3 metric).

    Parameters
    ----------
    pred : ndarray of shape (n, m), float32 or float64
    target : ndarray of shape (n, m)

    Returns
    -------
    value : float
        ``mean_i ||pred_i - target_i||_2``, computed in float64.
    dpred : ndarray like pred
        ``(pred_i - target_i) / (n ||pred_i - target_i||)``; rows at distance 0
        get the subgradient 0 (no division by zero).

    Raises
    ------
    ValueError
        If pred is not 2-D, the shapes differ or pred is empty.
    TypeError
        If pred is not float32 or float64.
    """
    pred, target = _pair(pred, target)
    if pred.ndim != 2:
        raise ValueError(f"pred must be 2-D (n, m), got shape {pred.shape}")
    pred = np.ascontiguousarray(pred)
    grad = np.empty(pred.shape, dtype=pred.dtype)
    value = _k.mean_distance_kernel(pred, np.ascontiguousarray(target, dtype=pred.dtype), grad)
    return value, grad


__all__ += ["softmax_cross_entropy"]


def softmax_cross_entropy(pred, target):
    """Softmax followed by cross-entropy, the mean over the batch (PyTorch's ``CrossEntropyLoss()``).

    Parameters
    ----------
    pred : ndarray of shape (n, k), float32 or float64
        Scores (logits).
    target : ndarray of shape (n,) of int class labels in [0, k), or of shape (n, k)
        Labels, or one-hot (any probability) rows.

    Returns
    -------
    value : float
        ``-mean_i sum_j t_ij log softmax(pred_i)_j``, computed in float64 with
        the row maximum subtracted first (no overflow).
    dpred : ndarray like pred
        ``(softmax(pred) - t) / n``.

    Raises
    ------
    ValueError
        If pred is not 2-D or empty, the target shape does not fit, or a label
        is out of range.
    TypeError
        If pred is not float32 or float64, or labels are not integers.
    """
    pred = np.asarray(pred)
    if pred.dtype not in (np.float32, np.float64):
        raise TypeError(f"pred must be float32 or float64, got {pred.dtype}")
    if pred.ndim != 2 or pred.size == 0:
        raise ValueError(f"pred must be a non-empty 2-D array (n, k), got shape {pred.shape}")
    n, k = pred.shape
    target = np.asarray(target)
    if target.shape == (n,):
        if not np.issubdtype(target.dtype, np.integer):
            raise TypeError(f"target labels must be integers, got dtype {target.dtype}")
        grad = np.empty(pred.shape, dtype=pred.dtype)
        value, bad = _k.softmax_xent_labels(np.ascontiguousarray(pred), np.ascontiguousarray(target), grad)
        if bad >= 0:
            raise ValueError(f"target labels must be in [0, {k}), got values in "
                             f"[{target.min()}, {target.max()}]")
        return float(value), grad
    z = pred.astype(np.float64) - pred.max(axis=1, keepdims=True)
    logsum = np.log(np.sum(np.exp(z), axis=1, keepdims=True))
    logp = z - logsum
    if target.shape == (n, k):
        t = target.astype(np.float64, copy=False)
        value = -float(np.mean(np.sum(t * logp, axis=1)))
        grad = np.exp(logp) * t.sum(axis=1, keepdims=True) - t
    else:
        raise ValueError(f"target must have shape ({n},) or ({n}, {k}), got {target.shape}")
    return value, (grad / n).astype(pred.dtype, copy=False)
