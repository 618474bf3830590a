"""nagd's own kernels give bit-identical trajectories on every IEEE-754 machine.

Each trajectory below is hashed (SHA-256 of its little-endian bytes) and the hash is pinned: the
kernels use neither BLAS nor fast-math, and sum in an order that depends only on the array length,
so vector width, FMA units and thread counts cannot change a bit. CI runs this file natively and
again with ``NUMBA_CPU_NAME=generic`` and NumPy's SIMD dispatch narrowed; both must give these hashes.

A deliberate change of the arithmetic (another order of operations in a kernel) changes them:
print the new ones with ``python tests/test_reproducibility.py`` and say why in the commit.
"""
import hashlib
import os
import sys

import numpy as np
import pytest

import nagd
from nagd import problems
from nagd.optim import NaGD


def _digest(*arrays):
    h = hashlib.sha256()
    for a in arrays:
        a = np.asarray(a)
        h.update(np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<")).tobytes())
    return h.hexdigest()


def _optimizer_run(fun, grad, x0, alpha, steps, dtype):
    """Iterates and step sizes of NaGD(alpha) on fun in the given dtype (the optimizer-object path)."""
    x = np.array(x0, dtype=dtype)
    opt = NaGD(alpha=alpha)
    path, lrs = [x.copy()], []
    for _ in range(steps):
        lrs.append(opt.step(x, grad(x), fun(x)))
        path.append(x.copy())
    return np.array(path), np.array(lrs)


def quadratic(dtype):
    return _digest(*_optimizer_run(problems.quadratic, problems.quadratic_grad, [1.0, 1.0], 0.7, 60, dtype))


def rosenbrock(dtype):
    return _digest(*_optimizer_run(problems.rosenbrock, problems.rosenbrock_grad, [-3.0, -4.0], 1.6, 500, dtype))


def rosenbrock_compiled_loop():
    """The compiled whole loop of nagd.minimize (float64 only, as minimize is)."""
    res = nagd.minimize(problems.rosenbrock, np.array([-3.0, -4.0]), jac=problems.rosenbrock_grad,
                        alpha=1.6, tol=1e-10, maxiter=2000)
    return _digest(res.x, np.array([res.fun]), np.array([res.nit, res.nfev, res.status]))


def layer_matching(dtype):
    """One compiled section-3 run: NaGD(0.5) on the paper's task, 3 epochs of 100 steps."""
    from nagd.experiments import layer_matching as lm
    from nagd.experiments.layer_matching import make_layer_matching

    d = make_layer_matching(1, dtype=dtype)
    params = lm.initial_params(1).astype(dtype)
    out = lm.train_compiled(params, d.X_train, d.y_train, d.X_test, d.y_test, lm.sample_order(1, 100, 3),
                            NaGD(alpha=0.5), eval_every=10)
    return _digest(params, out["distance"], out["lr"], out["alpha"])


CASES = {
    "quadratic float32": lambda: quadratic(np.float32),
    "quadratic float64": lambda: quadratic(np.float64),
    "rosenbrock float32": lambda: rosenbrock(np.float32),
    "rosenbrock float64": lambda: rosenbrock(np.float64),
    "rosenbrock compiled loop": rosenbrock_compiled_loop,
    "layer matching float32": lambda: layer_matching(np.float32),
    "layer matching float64": lambda: layer_matching(np.float64),
}

PINNED = {
    'quadratic float32': 'be9f554d72dfa91611004fb061416d2b64ffaa8ee0d43bcc3b54b01211852c87',
    'quadratic float64': 'eba241abeb91ce32d4e3ea2744a941100eb848ab48f8334d061d9534bb58e748',
    'rosenbrock float32': '51b408fa1fddc0de8af178b353356a3c3175068460b075193ce9a453d1ff2a59',
    'rosenbrock float64': 'd1876ab1d35c9e104a1b0a14ef073b36dc0976e1b495746659b5828f023803ad',
    'rosenbrock compiled loop': '3e9716c4bcb60dddcf37c3bf13b047aa841fba9f55477afe3ac859248f1591c5',
    'layer matching float32': '5a505f173b5fd998ecc2ebd4158f3a39f5d8c5dcc4e64cd08b9f21d7f8f3bc7e',
    'layer matching float64': '86b6496703c87fb638348f3971500c9d5af8a2ce123657d8fcd6d4b28f34736a',
}


NO_JIT = os.environ.get("NUMBA_DISABLE_JIT", "0") not in ("", "0")


@pytest.mark.parametrize("name", CASES)
def test_trajectory_is_bit_identical_to_the_pinned_one(name):
    if NO_JIT and name == "layer matching float32":
        # The kernels' fallback widens like Numba; the section-3 trainer's does not: as plain Python,
        # a float32 product added to a float accumulator stays float32 (NumPy's promotion rules).
        pytest.skip("the section-3 trainer's plain-Python fallback rounds float32 sums differently")
    assert CASES[name]() == PINNED[name]


if __name__ == "__main__":
    sys.stdout.write("PINNED = {\n")
    for name, case in CASES.items():
        sys.stdout.write(f"    {name!r}: {case()!r},\n")
    sys.stdout.write("}\n")
