"""A nonsmooth problem with a known optimal value: least absolute deviations, by the Polyak step.

Fitting ``A x = b`` in the 1-norm, ``f(x) = ||A x - b||_1``, is convex but not differentiable where
a residual is zero, which is exactly where the solution lies. When the system is consistent the
optimal value is known, ``f* = 0``, and the Polyak step with ``lower_bound=0`` is the textbook
method: every step brings ``x`` closer to the solution, with no step size to tune. ``jac`` returns
a subgradient, ``A^T sign(A x - b)``. Quasi-Newton methods assume a smooth ``f`` and stall at a
kink or report a precision loss; Nelder-Mead stalls in 10 dimensions.

Usage: python examples/l1_regression.py [--quick]
"""
import argparse

import numpy as np
import scipy.optimize as so

from nagd import nagd


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", help="unused (the example writes no files)")
    parser.add_argument("--quick", action="store_true", help="a smaller system")
    args = parser.parse_args(argv)
    m, n = (30, 10) if args.quick else (200, 40)
    rng = np.random.default_rng(0)
    A = rng.standard_normal((m, n))
    x_true = rng.standard_normal(n)
    b = A @ x_true

    def f(x):
        return float(np.abs(A @ x - b).sum())

    def subgradient(x):
        return A.T @ np.sign(A @ x - b)

    x0 = np.zeros(n)
    results = {
        "nagd": so.minimize(f, x0, jac=subgradient, method=nagd,
                            options={"lower_bound": 0.0, "alpha": 1.0, "maxiter": 20_000}),
        "BFGS": so.minimize(f, x0, jac=subgradient, method="BFGS"),
        "L-BFGS-B": so.minimize(f, x0, jac=subgradient, method="L-BFGS-B"),
        "Nelder-Mead": so.minimize(f, x0, method="Nelder-Mead"),
    }
    print(f"min ||Ax - b||_1, A {m} x {n}, consistent (f* = 0), from x = 0")
    print(f"{'method':12s} {'f':>9s} {'|x - x_true|':>13s} {'f evals':>8s} status")
    for name, res in results.items():
        print(f"{name:12s} {res.fun:9.2e} {np.abs(res.x - x_true).max():13.2e} {res.nfev:8d} "
              f"{res.status} {'success' if res.success else 'failure'}")
    return {"results": results, "x_true": x_true}


if __name__ == "__main__":
    main()
