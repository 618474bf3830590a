"""The parameters of a step: one array of any shape, a list or tuple of arrays, or a dict of arrays.

An optimizer treats them as one vector, the concatenation of the arrays flattened in C order
(a list or tuple in its order, a dict in the order of the keys of ``params``), without building
it: each array is reached through a 1-D view, and the kernels that sum over the vector continue
their sums from one array to the next (`nagd.kernels`, the ``_from`` kernels), so a step on
several arrays gives bit for bit the step on their concatenation. State arrays (momentum,
moments) are flat, one element per element of that vector, in the same order.
"""
import numpy as np

from .. import kernels

__all__ = ["Arrays", "as_arrays"]

_DTYPES = (np.float32, np.float64)


class Arrays:
    """params and grad of one step as 1-D views, in the order of their concatenation.

    Attributes
    ----------
    xs, gs : list of ndarray
        1-D views of each array of params and of grad (one array: one view each; a 1-D array is
        its own view).
    n : int
        Number of elements in all.
    dtype : numpy.dtype
        The one dtype of every array.
    single : bool
        True for one array: the flat kernels apply to it as they are.
    """

    __slots__ = ("xs", "gs", "n", "dtype", "single", "_bounds")

    def __init__(self, xs, gs, dtype):
        self.xs, self.gs, self.dtype = xs, gs, dtype
        self.single = len(xs) == 1
        bounds, start = [], 0
        for x in xs:
            bounds.append((start, start + x.shape[0]))
            start += x.shape[0]
        self._bounds = bounds
        self.n = start

    @classmethod
    def one(cls, x, g, _new=object.__new__):
        """The Arrays of one pair of 1-D arrays: what ``Arrays([x], [g], x.dtype)`` holds, built in about
        half the time (the common case, once a step)."""
        self = _new(cls)
        self.xs, self.gs, self.dtype, self.single = [x], [g], x.dtype, True
        self.n = x.shape[0]
        self._bounds = [(0, self.n)]
        return self

    def split(self, flat):
        """Views of a flat array of n elements (a state array), one per array of params."""
        if self.single:
            return [flat]
        return [flat[a:b] for a, b in self._bounds]

    def sq_norm(self):
        """``||grad||^2``: the bits of `nagd.kernels.sq_norm` on the concatenation of grad."""
        if self.single:
            return float(kernels.sq_norm(self.gs[0]))
        n = self.n
        if n < 64:
            total = 0.0
            for g in self.gs:
                total = kernels.sq_sum_from(g, total)
            return float(total)
        half = (n // 64) * 32
        acc = np.zeros(64)
        for g, (start, _) in zip(self.gs, self._bounds):
            kernels.sq_norm_lanes_from(g, start, half, acc)
        total = kernels.sq_norm_lanes_total(acc)
        for g, (start, end) in zip(self.gs, self._bounds):      # the last n - 2*half entries, in order
            if end > 2 * half:
                total = kernels.sq_sum_from(g[max(2 * half - start, 0):], total)
        return float(total)

    def dot(self, flat):
        """``grad . flat`` for a flat state array: the bits of `nagd.kernels.dot` on the concatenation."""
        if self.single:
            return float(kernels.dot(self.gs[0], flat))
        acc = np.zeros(4)
        m = self.n - self.n % 4
        for g, (start, end) in zip(self.gs, self._bounds):
            kernels.dot_from(g, flat[start:end], start, m, acc)
        return (float(acc[0]) + float(acc[1])) + (float(acc[2]) + float(acc[3]))

    def carry(self, kernel_from, states, *args):
        """Run ``kernel_from(x, g, *state views, *args, total)`` on each array in turn, total from 0.0.

        Returns the total: the sum that one call on the concatenation returns.
        """
        parts = [self.split(s) for s in states]
        total = 0.0
        for i, (x, g) in enumerate(zip(self.xs, self.gs)):
            total = kernel_from(x, g, *[p[i] for p in parts], *args, total)
        return total

    def each(self, kernel, views, *args):
        """Run ``kernel(*views of one array, *args)`` on each array in turn.

        views is a sequence of per-array lists (``xs``, ``gs``, or `split` of a state array).
        """
        for one in zip(*views):
            kernel(*one, *args)


_FLOATS = frozenset(np.dtype(t) for t in _DTYPES)


def _fine(a, g):
    """The fast test of one pair: both arrays, params float32/float64, C-contiguous and writeable, grad alike."""
    return (isinstance(a, np.ndarray) and isinstance(g, np.ndarray) and a.dtype in _FLOATS
            and g.dtype == a.dtype and g.shape == a.shape and (flags := a.flags).c_contiguous and flags.writeable
            and g.flags.c_contiguous)


def _refuse(name, a, grad_name, g):
    """Raise the error that says what is wrong with a pair that `_fine` refused."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(a).__name__}")
    if not isinstance(g, np.ndarray):
        raise TypeError(f"{grad_name} must be a numpy.ndarray, got {type(g).__name__}")
    for what, arr in ((name, a), (grad_name, g)):
        if arr.dtype not in _FLOATS:
            raise TypeError(f"{what} must be float32 or float64, got {arr.dtype}")
        if not arr.flags.c_contiguous:
            raise ValueError(f"{what} must be contiguous (C order): it is used through a flat view")
    if not a.flags.writeable:
        raise ValueError(f"{name} must be writeable: it is updated in place")
    raise ValueError(f"{grad_name} must match {name} in shape and dtype: {name} {a.shape} {a.dtype}, "
                     f"{grad_name} {g.shape} {g.dtype}")


def as_arrays(params, grad):
    """Check params and grad and return them as `Arrays`; nothing is copied.

    Parameters
    ----------
    params : ndarray, list or tuple of ndarray, or dict of ndarray
        float32 or float64, C-contiguous and writeable, all of one dtype.
    grad : same structure as params
        The same shapes and dtype (a list and a tuple count as the same structure; a dict must
        have the keys of params, in any order).

    Returns
    -------
    Arrays

    Raises
    ------
    TypeError
        For something other than these structures or arrays, or a dtype other than float32
        and float64.
    ValueError
        For structures, shapes or dtypes that do not match, an empty structure, a
        non-contiguous array or read-only params.
    """
    if isinstance(params, np.ndarray):
        if not _fine(params, grad):
            _refuse("params", params, "grad", grad)
        if params.ndim != 1:            # 1-D arrays are their own flat views (a new view costs a step 0.1 us)
            params, grad = params.reshape(-1), grad.reshape(-1)
        return Arrays.one(params, grad)
    if isinstance(params, (list, tuple)):
        if not isinstance(grad, (list, tuple)):
            raise TypeError(f"grad must be a list or tuple of arrays as params is, got {type(grad).__name__}")
        if len(grad) != len(params):
            raise ValueError(f"grad must hold one array per array of params: params holds {len(params)}, "
                             f"grad {len(grad)}")
        keys = range(len(params))
        pairs = list(zip(params, grad))
    elif isinstance(params, dict):
        if not isinstance(grad, dict):
            raise TypeError(f"grad must be a dict of arrays as params is, got {type(grad).__name__}")
        if grad.keys() != params.keys():
            missing = [k for k in params if k not in grad]
            extra = [k for k in grad if k not in params]
            raise ValueError(f"grad must have the keys of params: missing {missing}, not in params {extra}")
        keys = list(params)
        pairs = [(params[k], grad[k]) for k in keys]
    else:
        raise TypeError("params must be a numpy.ndarray, or a list, tuple or dict of them, "
                        f"got {type(params).__name__}")
    if not pairs:
        raise ValueError(f"params must hold at least one array, got an empty {type(params).__name__}")
    xs, gs = [], []
    dtype = pairs[0][0].dtype if isinstance(pairs[0][0], np.ndarray) else None
    for key, (a, g) in zip(keys, pairs):
        if not _fine(a, g):
            _refuse(f"params[{key!r}]", a, f"grad[{key!r}]", g)
        if a.dtype != dtype:
            raise ValueError(f"params[{key!r}] is {a.dtype} but params[{keys[0]!r}] is {dtype}: "
                             "all arrays must have one dtype")
        xs.append(a if a.ndim == 1 else a.reshape(-1))
        gs.append(g if g.ndim == 1 else g.reshape(-1))
    return Arrays(xs, gs, dtype)
