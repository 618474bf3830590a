"""nagd inside scipy.optimize.basinhopping, on a function with many local minima.

The Styblinski-Tang function sum_i (x_i^4 - 16 x_i^2 + 5 x_i) / 2 has 2^n local minima in n
dimensions and one global minimum, of known value -39.166... n. Told that value as its
``lower_bound``, NaGD can tell a local minimum from the global one: at a local minimum the gradient
vanishes but f - L does not, so its steps grow to ``max_lr`` and throw it out of the basin, while
at the global minimum f - L vanishes too and the steps shrink.

1. Local minimizations from random starts: how often each method ends at the global minimum.
2. ``scipy.optimize.basinhopping`` with ``minimizer_kwargs={"method": nagd, ...}`` next to the
   same with L-BFGS-B.

Usage: python examples/basinhopping.py [OUT_DIR] [--quick]
"""
import argparse
import inspect
import os
import tempfile

import numpy as np
import scipy.optimize as so

from nagd import nagd, problems
from nagd.experiments import plotting


def output_dir(path=None):
    """The folder for the figures: the argument, $NAGD_EXAMPLES_OUT, or a new temporary folder."""
    path = path or os.environ.get("NAGD_EXAMPLES_OUT") or tempfile.mkdtemp(prefix="nagd-examples-")
    os.makedirs(path, exist_ok=True)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", help="folder for the figures")
    parser.add_argument("--quick", action="store_true", help="fewer starts and hops (seconds)")
    args = parser.parse_args(argv)
    out = output_dir(args.out)
    n_dim, n_starts, n_hops = 4, (20 if args.quick else 100), (10 if args.quick else 50)

    st = problems.get("styblinski_tang")            # its minimum is listed for the default n = 2
    minimum = st.minimum / len(st.x0) * n_dim       # -39.166... per dimension
    methods = {
        "nagd": dict(method=nagd, jac=st.grad,
                     options={"alpha": 1.0, "lower_bound": minimum, "maxiter": 2000, "tol": 1e-8}),
        "L-BFGS-B": dict(method="L-BFGS-B", jac=st.grad),
        "BFGS": dict(method="BFGS", jac=st.grad),
    }

    # 1. Local minimizations from the same random starts.
    rng = np.random.default_rng(0)
    starts = rng.uniform(-5.0, 5.0, size=(n_starts, n_dim))
    finals, hit_rate = {}, {}
    for name, kwargs in methods.items():
        finals[name] = np.array([so.minimize(st.fun, x0, **kwargs).fun for x0 in starts])
        hit_rate[name] = float(np.mean(finals[name] - minimum < 1e-4))
        print(f"{name:9s}: {hit_rate[name]:4.0%} of {n_starts} random starts end at the global minimum")

    fig = plotting.figure(figsize=(7, 4))
    ax = fig.subplots()
    for i, (name, values) in enumerate(finals.items()):
        jitter = np.random.default_rng(i).uniform(-0.15, 0.15, len(values))
        ax.scatter(i + jitter, values, s=14, alpha=0.6)
    ax.axhline(minimum, color="k", ls="--", lw=0.8, label=f"global minimum {minimum:.3f}")
    ax.set_xticks(range(len(finals)), list(finals))
    ax.set(ylabel="f at the end of the local run", title=f"Styblinski-Tang, n = {n_dim}, random starts")
    ax.legend()
    figure = plotting.save(fig, os.path.join(out, "basinhopping_local_runs.png"), dpi=90)

    # 2. basinhopping with each local method, from the worst corner (every coordinate in the wrong basin).
    seed_arg = "rng" if "rng" in inspect.signature(so.basinhopping).parameters else "seed"
    hopping = {}
    for name in ("nagd", "L-BFGS-B"):
        found = []   # f after hop 1, 2, ... (basinhopping calls back after each hop)
        res = so.basinhopping(st.fun, np.full(n_dim, 2.5), niter=n_hops, stepsize=3.0,
                              minimizer_kwargs=methods[name], callback=lambda x, f, accept: found.append(f),
                              **{seed_arg: np.random.default_rng(1)})
        hits = [i for i, f in enumerate(found, start=1) if f - minimum < 1e-4]
        res.first_hit = hits[0] if hits else None
        hopping[name] = res
        print(f"basinhopping + {name:9s}: f = {res.fun:.6f} (global {minimum:.6f}), "
              f"{res.nfev} function evaluations, global minimum first reached at hop {res.first_hit}")
    print(f"figure written to {figure}")
    return {"minimum": minimum, "hit_rate": hit_rate, "hopping": hopping, "figures": [figure]}


if __name__ == "__main__":
    main()
