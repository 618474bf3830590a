# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # A nonsmooth problem with a known optimal value
#
# Open this file in Jupyter as a notebook (`pip install -e ".[notebooks]"`, then in JupyterLab
# right-click it: *Open With > Notebook*; or convert it: `jupytext --to ipynb notebooks/nonsmooth.py`),
# and the figures appear inline. Run as a script, it saves them:
#
#     python notebooks/nonsmooth.py [OUT_DIR]
#
# into OUT_DIR, `$NAGD_EXAMPLES_OUT`, or a new temporary folder.
#
# ## 1. The problem: Maxquad
# Maxquad (Lukšan and Vlček's test set, `nagd.nonsmooth.LUKSAN_VLCEK`) is the largest of five
# convex quadratics in 10 variables:
#
#     f(x) = max_{k=1..5}  x^T A_k x - b_k^T x.
#
# It is convex, and smooth wherever one quadratic is larger than the others, but at its minimum
# several of them tie: f has a kink there, its gradient does not vanish, and the published optimal
# value f* = -0.8414083 is all we know about the minimum in advance. Methods for smooth functions
# rely on the gradient becoming small; here it never does.

# %%
import argparse
import os
import sys
import tempfile

import matplotlib.pyplot as plt
import numpy as np
import scipy.optimize as so

import nagd
from nagd.nonsmooth import LUKSAN_VLCEK


def in_jupyter():
    """True inside a Jupyter kernel, whose command line holds its connection file, not our options."""
    ipython = sys.modules.get("IPython")
    return ipython is not None and type(ipython.get_ipython()).__name__ == "ZMQInteractiveShell"


if in_jupyter():
    OUT = None                                            # figures inline
else:                                                     # a script: figures saved
    parser = argparse.ArgumentParser(description="A nonsmooth problem with a known optimal value")
    parser.add_argument("out", nargs="?", help="folder for the figures")
    args = parser.parse_args(sys.argv[1:] if __name__ == "__main__" else [])
    OUT = args.out or os.environ.get("NAGD_EXAMPLES_OUT") or tempfile.mkdtemp(prefix="nagd-nonsmooth-")
    os.makedirs(OUT, exist_ok=True)


def show(fig, name):
    """Show fig inline in Jupyter; save it as OUT/name.png when run as a script."""
    if OUT is None:
        plt.show()
    else:
        fig.savefig(os.path.join(OUT, name + ".png"), dpi=90)
        plt.close(fig)


problem = LUKSAN_VLCEK["Maxquad"]
f_star = problem.fstar
print(f"{problem.name}: n = {problem.n}, f(x0) = {problem.fun(problem.x0):.4f}, f* = {f_star} ({problem.source})")

# %% [markdown]
# ## 2. The kink
# f along two lines through the minimiser x*: towards the start x0, and along a random direction.
# Both are V-shaped at t = 0. The subgradient returned at x* (the gradient of one active piece) is
# far from zero. (f* is published to 7 digits: the true minimum, f(x*), is 3.5e-8 below it.)

# %%
x_star = problem.xstar
rng = np.random.default_rng(1)
ts = np.linspace(-0.05, 0.05, 201)
fig, ax = plt.subplots(figsize=(6, 4))
for label, d in (("towards x0", problem.x0 - x_star), ("a random direction", rng.standard_normal(problem.n))):
    d = d / np.linalg.norm(d)
    ax.plot(ts, [problem.fun(x_star + t * d) - f_star for t in ts], label=label)
ax.set(xlabel="t", ylabel="f(x* + t d) - f*", title="Maxquad along two lines through its minimiser")
ax.legend()
fig.tight_layout()
show(fig, "nonsmooth_kink")
kink_subgradient = float(np.linalg.norm(problem.jac(x_star)))
print(f"f(x*) - f* = {problem.fun(x_star) - f_star:.1e}; |subgradient at x*| = {kink_subgradient:.2f}")

# %% [markdown]
# ## 3. Three methods
# - **NaGD** with `lower_bound=f*` is the Polyak subgradient method: each step aims at the level
#   f*, along one subgradient. Knowing f* is what sets the step size; no line search, no tuning.
# - **The bundle method** with `lower_bound=f*` keeps the last `memory` cuts
#   f(x_j) + g_j.(y - x_j) <= f(y) and steps to the nearest point where all of them are at most
#   f* (Polyak's minorant method); with `memory=1` it is NaGD's step.
# - **L-BFGS-B** from scipy, a quasi-Newton method for smooth problems, for comparison.
#
# We record f at every evaluation to plot the best value found so far against the number of
# evaluations.


# %%
def traced(fun):
    """fun, and the list into which the returned function records every value it computes."""
    values = []

    def f(x):
        value = float(fun(x))
        values.append(value)
        return value

    return f, values


results, traces = {}, {}
for label, solve in [
    ("bundle, lower_bound=f*",
     lambda f: nagd.minimize(f, problem.x0, jac=problem.jac, method="bundle", lower_bound=f_star)),
    ("nagd, lower_bound=f*",
     lambda f: nagd.minimize(f, problem.x0, jac=problem.jac, method="nagd", lower_bound=f_star, maxiter=3000)),
    ("L-BFGS-B", lambda f: so.minimize(f, problem.x0, jac=problem.jac, method="L-BFGS-B")),
]:
    f, values = traced(problem.fun)
    results[label], traces[label] = solve(f), np.array(values)

fig, ax = plt.subplots(figsize=(6.5, 4.5))
for label, values in traces.items():
    ax.loglog(np.arange(1, len(values) + 1), np.minimum.accumulate(values) - f_star, label=label)
ax.set(xlabel="evaluations of f", ylabel="best f - f* so far", title="Maxquad (n = 10)")
ax.legend()
fig.tight_layout()
show(fig, "nonsmooth_convergence")

print(f"{'method':24} {'f - f*':>9} {'evals':>6} {'success':>8}  message")
for label, res in results.items():
    print(f"{label:24} {res.fun - f_star:9.1e} {len(traces[label]):6d} {str(bool(res.success)):>8}  {res.message}")

# %% [markdown]
# ## 4. What the table says
# - The bundle method reaches f - f* below `tol` (1e-8) in a few dozen evaluations and stops on
#   that test: with f* known, f - f* is a stopping test that means what it says.
# - NaGD makes steady but slow progress: a single subgradient zig-zags between the pieces. The
#   Polyak step's guarantee on nonsmooth convex problems is a gap that shrinks like 1/sqrt(k).
# - L-BFGS-B stops early and reports **success** at a point where f - f* is still large: its tests
#   (a small relative change of f) are built for smooth functions, and at a kink they fire where
#   nothing is solved. With f* known, check f - f* yourself.
#
# ## 5. Without f*
# When the optimal value is not known, `lower_bound="auto"` lets the bundle method build a lower
# bound from its own cuts. `res.lower_bound` is the best bound certified, `res.gap` the gap
# f - lower_bound, and the message says whether the run could certify its answer.

# %%
f, _ = traced(problem.fun)
auto = nagd.minimize(f, problem.x0, jac=problem.jac, method="bundle", lower_bound="auto")
print(f"status {auto.status}: f - f* = {auto.fun - f_star:.1e} after {auto.nfev} evaluations; "
      f"certified lower bound {auto.lower_bound}, gap {auto.gap:.1e}\n{auto.message}")

# %% [markdown]
# ## Try this
# - Give the bundle method a wrong bound: `lower_bound=f_star - 0.1` (too low) and
#   `lower_bound=f_star + 0.1` (too high). What do `res.status` and `res.message` say?
# - Solve `LUKSAN_VLCEK["MXHILB"]` (n = 50, f* = 0) with the same three methods.
# - Change `memory` (the number of cuts the bundle method keeps, default min(n + 2, 100)) to 1, 3
#   and 12: how many evaluations does Maxquad need?
if OUT is not None:
    print(f"figures written to {OUT}")
