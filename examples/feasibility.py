"""Convex feasibility: a point in an intersection of half-spaces and balls, inside a box.

Finding a point that satisfies convex constraints ``c_i(x) <= 0`` is minimizing the largest
violation ``f(x) = max(0, max_i c_i(x))``, whose optimal value is known when a feasible point
exists: ``f* = 0``. With ``lower_bound=0`` each Polyak step is the classical projection-like step
towards the most violated constraint (Polyak, 1969), and ``bounds`` keeps every iterate inside a
box by projection. ``jac`` returns a subgradient: the normal of the most violated half-space, or
the unit vector from a ball's centre. L-BFGS-B, given the same box and subgradient, stops at a
kink of ``f`` while constraints are still violated.

Usage: python examples/feasibility.py [--quick]
"""
import argparse

import numpy as np
import scipy.optimize as so

import nagd
from nagd.nonsmooth import feasibility


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", help="unused (the example writes no files)")
    parser.add_argument("--quick", action="store_true", help="a smaller problem")
    args = parser.parse_args(argv)
    n, n_planes, n_balls = (10, 20, 3) if args.quick else (50, 200, 10)
    f, subgradient, violations = feasibility(n, n_planes, n_balls, np.random.default_rng(0))
    box = so.Bounds(np.zeros(n), np.ones(n))
    x0 = np.full(n, 1.0)                         # a corner of the box, infeasible
    results = {
        "nagd": so.minimize(f, x0, jac=subgradient, method=nagd.nagd, bounds=box,
                            options={"lower_bound": 0.0, "tol": 1e-12, "maxiter": 20_000}),
        "L-BFGS-B": so.minimize(f, x0, jac=subgradient, method="L-BFGS-B", bounds=box),
    }
    print(f"a point in {n_planes} half-spaces and {n_balls} balls inside [0, 1]^{n} (f* = 0)")
    for name, res in results.items():
        print(f"{name:9s} largest violation {violations(res.x).max():+.2e}, {res.nfev} f evals, "
              f"status {res.status} ({'success' if res.success else 'failure'})")
    return {"results": results, "violations": violations, "box": box}


if __name__ == "__main__":
    main()
