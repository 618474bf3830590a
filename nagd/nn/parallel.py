"""Data parallelism over threads: each minibatch is split between replicas of a model that share its
parameters, and the replicas run forward and backward at the same time.

The conv kernels (`nagd.nn.conv_kernels`) release the GIL and the BLAS products run
single-threaded inside each replica, so two replicas keep two cores busy with
one synchronisation per step. That scales far better than threading each small
matrix product (``docs/benchmarks.md``).
"""
import concurrent.futures
import contextlib

import numpy as np

from .._validation import positive_int

__all__ = ["DataParallel"]


def _rebind(model, params, grads):
    """Point model's layers at views of the flat buffers params and grads (Sequential's layout)."""
    offset = 0
    for layer in model.layers:
        p, g = {}, {}
        for name, shape in layer.param_specs:
            size = int(np.prod(shape))
            p[name] = params[offset:offset + size].reshape(shape)
            g[name] = grads[offset:offset + size].reshape(shape)
            offset += size
        layer.bind(p, g)
    model.params, model.grads = params, grads


def _blas_controller():
    """A threadpoolctl controller of the loaded BLAS libraries, or None without threadpoolctl.

    SciPy's OpenBLAS (the one Numba's matrix products call) is loaded first, so that the
    controller sees it even before the first compiled product runs.
    """
    try:
        import scipy.linalg.cython_blas  # noqa: F401  (loads the BLAS the Numba kernels use)
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    return ThreadpoolController()


class DataParallel:
    """A `Sequential` whose minibatches are split over ``threads`` replicas running in threads.

    Parameters
    ----------
    model : Sequential
        The model; its ``params`` are shared by every replica (updated in place by
        the optimizer as usual) and its ``grads`` receive the combined gradient.
    make_model : callable
        ``make_model() -> Sequential`` with the same architecture and dtype as
        model (its initial weights are discarded).
    threads : int, default 2
        Number of replicas (the first is model itself).

    Raises
    ------
    ValueError
        If threads is not a positive integer, or make_model gives another architecture.

    Notes
    -----
    ``loss_and_grad`` returns the mean loss over the whole minibatch and leaves its
    gradient in ``grads``: each replica's mean over its part, weighted by the part's
    size, so without dropout it equals the single-model result up to rounding.
    Replica k > 0 draws its dropout masks from its own generator, seeded from
    ``model.rng`` at construction: results are reproducible for a given seed and
    thread count, and differ between thread counts. While the replicas run,
    BLAS is capped at one thread (when ``threadpoolctl`` is installed, as with
    the ``experiments`` extra; without it, set ``OPENBLAS_NUM_THREADS=1``):
    several threads of BLAS under each replica compete for the cores and a
    step takes 2-4 times longer. The cap is process-wide and lifted when
    `forward` or `loss_and_grad` returns.
    """

    def __init__(self, model, make_model, threads=2):
        threads = positive_int("threads", threads)
        self.model = model
        self.replicas = [model]
        for _ in range(int(threads) - 1):
            r = make_model()
            if r.n_params != model.n_params or r.dtype != model.dtype or r.input_shape != model.input_shape:
                raise ValueError("make_model must build the architecture of model "
                                 f"({model.n_params} {model.dtype} parameters), got {r.n_params} {r.dtype}")
            _rebind(r, model.params, np.zeros_like(model.grads))
            r.rng = np.random.default_rng(model.rng.integers(2 ** 63))
            for layer in r.layers:
                layer.rng = r.rng
            self.replicas.append(r)
        self._pool = None
        self._blas = _blas_controller() if len(self.replicas) > 1 else None

    def _one_blas_thread(self):
        if self._blas is None:
            return contextlib.nullcontext()
        return self._blas.limit(limits=1, user_api="blas")

    # the Sequential interface used by nagd.nn.train
    params = property(lambda self: self.model.params)
    grads = property(lambda self: self.model.grads)
    input_shape = property(lambda self: self.model.input_shape)
    output_shape = property(lambda self: self.model.output_shape)
    dtype = property(lambda self: self.model.dtype)
    n_params = property(lambda self: self.model.n_params)

    @property
    def generators(self):
        """The replicas' random generators (their states belong in a checkpoint)."""
        return [r.rng for r in self.replicas]

    def _map(self, fn, x, *rest):
        n = x.shape[0]
        k = min(len(self.replicas), n)
        bounds = [n * i // k for i in range(k + 1)]
        parts = [slice(bounds[i], bounds[i + 1]) for i in range(k)]
        if k == 1:
            return parts, [fn(self.replicas[0], x, *rest)]
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(len(self.replicas) - 1)
        futures = [self._pool.submit(fn, self.replicas[i], x[parts[i]], *(a[parts[i]] for a in rest))
                   for i in range(1, k)]
        first = fn(self.replicas[0], x[parts[0]], *(a[parts[0]] for a in rest))
        return parts, [first] + [f.result() for f in futures]

    def forward(self, x, train=False):
        """The model's output for a batch, computed in parts by the replicas.

        Parameters
        ----------
        x, train
            As in `Sequential.forward`.

        Returns
        -------
        ndarray of shape ``(batch, *output_shape)``
        """
        x = np.asarray(x)
        with self._one_blas_thread():
            _, outs = self._map(lambda r, xi: r.forward(xi, train=train), x)
        return outs[0] if len(outs) == 1 else np.concatenate(outs)

    def loss_and_grad(self, x, y, loss, train=True):
        """Mean loss over the batch; its gradient goes to ``grads``.

        Parameters
        ----------
        x, y, loss, train
            As in `Sequential.loss_and_grad`.

        Returns
        -------
        float
        """
        x, y = np.asarray(x), np.asarray(y)
        with self._one_blas_thread():
            parts, values = self._map(lambda r, xi, yi: r.loss_and_grad(xi, yi, loss, train=train), x, y)
        n = x.shape[0]
        g = self.model.grads
        w0 = (parts[0].stop - parts[0].start) / n
        if len(parts) > 1:
            g *= w0
            for r, part in zip(self.replicas[1:], parts[1:]):
                g += r.grads * ((part.stop - part.start) / n)
        return float(sum(v * (p.stop - p.start) for v, p in zip(values, parts)) / n)

    def close(self):
        """Stop the worker threads."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def __repr__(self):
        return f"DataParallel({self.model!r}, threads={len(self.replicas)})"
