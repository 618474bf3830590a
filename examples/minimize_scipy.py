"""Minimizing with scipy.optimize.minimize(method=nagd), and the lower bound it needs.

1. Rosenbrock from (-3, -4) with ``method=nagd`` next to scipy's BFGS and CG, with an analytic
   gradient and with a finite-difference one (``jac=None``).
2. ``nagd.minimize``: the same result without scipy's front door; with Numba-compiled ``fun`` and
   ``jac`` (``nagd.problems``) the whole loop runs in compiled code.
3. The lower bound: the Goldstein-Price function has minimum value 3. With ``lower_bound=3``
   nagd converges to the minimiser. With 0 (below the minimum) its steps stay long and it keeps
   wandering until ``maxiter``. With 5 (above the minimum) it stops on the level set f = 5 and
   reports success, since f - L <= tol, at a point that is no minimiser: its gradient is far from
   zero. (A step that overshoots below L ends with status 3, "the lower bound is wrong".)

The Rosenbrock valley is sensitive to the last bits of the arithmetic: scipy's ``rosen`` and
``nagd.problems.rosenbrock`` round differently, so their step counts differ.

A callback records f at every step for the convergence plot.

Usage: python examples/minimize_scipy.py [OUT_DIR] [--quick]
"""
import argparse
import os
import tempfile

import numpy as np
import scipy.optimize as so

import nagd
from nagd import problems
from nagd.experiments import plotting


def output_dir(path=None):
    """The folder for the figures: the argument, $NAGD_EXAMPLES_OUT, or a new temporary folder."""
    path = path or os.environ.get("NAGD_EXAMPLES_OUT") or tempfile.mkdtemp(prefix="nagd-examples-")
    os.makedirs(path, exist_ok=True)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", help="folder for the figures")
    parser.add_argument("--quick", action="store_true", help="fewer iterations (seconds)")
    args = parser.parse_args(argv)
    out = output_dir(args.out)
    maxiter = 500 if args.quick else 20000
    x0 = np.array([-3.0, -4.0])
    results = {}

    # 1. scipy's front door: method=nagd beside scipy's own methods.
    print(f"{'method':28s} {'f':>10s} {'nit':>6s} {'nfev':>6s} {'njev':>6s}  message")
    for label, kwargs in [
        ("nagd(alpha=1.6)", dict(method=nagd.nagd, jac=so.rosen_der,
                                 options={"alpha": 1.6, "maxiter": maxiter, "tol": 1e-6})),
        ("nagd(alpha=1.6), jac=None", dict(method=nagd.nagd,
                                           options={"alpha": 1.6, "maxiter": maxiter, "tol": 1e-6})),
        ("BFGS", dict(method="BFGS", jac=so.rosen_der)),
        ("CG", dict(method="CG", jac=so.rosen_der)),
    ]:
        res = so.minimize(so.rosen, x0, **kwargs)
        results[label] = res
        print(f"{label:28s} {res.fun:10.2e} {res.nit:6d} {res.nfev:6d} {res.get('njev', 0):6d}  {res.message}")

    # The callback sees every iterate: record f for several alphas.
    series = {}
    for alpha in (0.7, 1.0, 1.6, 1.9):
        trace = [so.rosen(x0)]
        so.minimize(so.rosen, x0, jac=so.rosen_der, method=nagd.nagd,
                    callback=lambda intermediate_result: trace.append(intermediate_result.fun),
                    options={"alpha": alpha, "maxiter": maxiter, "tol": 1e-10})
        series[f"alpha={alpha}"] = (np.arange(len(trace)), np.maximum(trace, 1e-30))
    figure = plotting.curves(series, os.path.join(out, "minimize_rosenbrock.png"), xlabel="iteration",
                             ylabel="f(x) - 0", title="nagd on Rosenbrock from (-3, -4)")

    # 2. nagd.minimize with compiled fun and jac: the whole loop runs in compiled code.
    res = nagd.minimize(problems.rosenbrock, x0, jac=problems.rosenbrock_grad, alpha=1.6,
                        maxiter=maxiter, tol=1e-6)
    results["nagd.minimize"] = res
    print(f"nagd.minimize (compiled loop): f = {res.fun:.2e} after {res.nit} steps, status {res.status}")

    # 3. The lower bound on Goldstein-Price (minimum value 3 at (0, -1)).
    gp = problems.get("goldstein_price")
    print(f"\nGoldstein-Price from {gp.x0}, minimum value {gp.minimum}:")
    for bound in (gp.minimum, 0.0, 5.0):
        res = so.minimize(gp.fun, np.array(gp.x0), jac=gp.grad, method=nagd.nagd,
                          options={"alpha": 1.0, "lower_bound": bound, "maxiter": maxiter, "tol": 1e-9})
        results[f"goldstein_price L={bound:g}"] = res
        print(f"  lower_bound={bound:<4g} status {res.status} after {res.nit:5d} steps: f = {res.fun:9.6f}, "
              f"x = {np.round(res.x, 4)}, |grad| = {np.linalg.norm(res.jac):.1e}")
    print(f"figure written to {figure}")
    return {"results": results, "figures": [figure]}


if __name__ == "__main__":
    main()
