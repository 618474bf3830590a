"""DataParallel: replicas sharing one parameter buffer give the single model's loss and gradient."""
import numpy as np
import pytest

from nagd.nn import DataParallel, Dense, Sequential, softmax_cross_entropy
from nagd.optim import SGD

from _networks import convnet


@pytest.mark.parametrize("threads, n", [(2, 7), (3, 9), (2, 1)])
def test_without_dropout_equals_the_single_model(rng, threads, n):
    single = convnet(np.float64, seed=0)
    dp = DataParallel(convnet(np.float64, seed=0), lambda: convnet(np.float64, seed=5), threads)
    np.testing.assert_array_equal(dp.params, single.params)
    x, y = rng.standard_normal((n, 1, 28, 28)), rng.integers(0, 10, size=n)
    np.testing.assert_allclose(dp.forward(x), single.forward(x), rtol=1e-13, atol=1e-13)
    a = single.loss_and_grad(x, y, softmax_cross_entropy, train=False)
    b = dp.loss_and_grad(x, y, softmax_cross_entropy, train=False)
    assert b == pytest.approx(a, rel=1e-13)
    np.testing.assert_allclose(dp.grads, single.grads, rtol=1e-10, atol=1e-13)
    dp.close()


def test_replicas_share_parameters_and_training_is_seeded(rng):
    def make(seed):
        return DataParallel(convnet(np.float32, seed=seed), lambda: convnet(np.float32), 2)

    x, y = rng.standard_normal((12, 1, 28, 28)), rng.integers(0, 10, size=12)
    runs = []
    for _ in range(2):
        dp, opt = make(3), SGD(lr=0.05)
        for _ in range(3):
            opt.step(dp.params, dp.grads, dp.loss_and_grad(x, y, softmax_cross_entropy, train=True))
        assert all(np.shares_memory(r.layers[0].params["W"], dp.params) for r in dp.replicas)
        assert not np.shares_memory(dp.replicas[1].grads, dp.grads)
        runs.append(dp.params.copy())
        dp.close()
    np.testing.assert_array_equal(runs[0], runs[1])
    assert dp.params.dtype == np.float32


def test_bad_arguments():
    model = convnet(np.float32, seed=0)
    with pytest.raises(ValueError, match="threads must be a positive integer"):
        DataParallel(model, lambda: convnet(np.float32), 0)
    with pytest.raises(ValueError, match="make_model must build the architecture"):
        DataParallel(model, lambda: Sequential([Dense(3)], (4,), dtype=np.float32), 2)


def test_blas_runs_single_threaded_inside_the_replicas_and_is_restored_after():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    import scipy.linalg.cython_blas  # noqa: F401  (the BLAS of the Numba kernels)

    def blas_threads():
        return {lib["filepath"]: lib["num_threads"] for lib in threadpoolctl.threadpool_info()
                if lib["user_api"] == "blas"}

    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        outside = blas_threads()
        seen = []

        def loss(pred, target):
            seen.append(blas_threads())
            return softmax_cross_entropy(pred, target)

        dp = DataParallel(convnet(np.float32, seed=0), lambda: convnet(np.float32), 2)
        x = np.random.default_rng(0).standard_normal((8, 1, 28, 28)).astype(np.float32)
        dp.loss_and_grad(x, np.arange(8) % 10, loss)
        dp.close()
        assert len(seen) == 2 and all(set(s.values()) == {1} for s in seen)
        assert blas_threads() == outside and set(outside.values()) == {2}
