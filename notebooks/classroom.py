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
# # Classroom: norm-adapted gradient descent from the first-order model, step by step
#
# Open this file in Jupyter as a notebook (`pip install -e ".[notebooks]"`, then in JupyterLab
# right-click it: *Open With > Notebook*; or convert it: `jupytext --to ipynb notebooks/classroom.py`),
# and the figures appear inline. Run as a script, it saves them:
#
#     python notebooks/classroom.py [OUT_DIR] [--quick]
#
# into OUT_DIR, `$NAGD_EXAMPLES_OUT`, or a new temporary folder.
#
# ## 1. The problem
# We minimise the paper's quadratic q(x, y) = 8x^2 + y^2/2. Its minimum value is 0, at (0, 0),
# so L = 0 is a lower bound we know. Its valley (the y-axis) is flat: gradient descent is fast
# down the steep walls and slow along the floor.

# %%
import argparse
import os
import sys
import tempfile

import matplotlib.pyplot as plt
import numpy as np

from nagd.optim import SGD, NaGD


def in_jupyter():
    """True inside a Jupyter kernel, whose command line holds its connection file, not our options."""
    ipython = sys.modules.get("IPython")
    return ipython is not None and type(ipython.get_ipython()).__name__ == "ZMQInteractiveShell"


if in_jupyter():
    OUT, QUICK = None, False                              # figures inline
else:                                                     # a script: figures saved
    parser = argparse.ArgumentParser(description="Classroom: NaGD from the first-order model")
    parser.add_argument("out", nargs="?", help="folder for the figures")
    parser.add_argument("--quick", action="store_true", help="coarser grids and fewer steps")
    args = parser.parse_args(sys.argv[1:] if __name__ == "__main__" else [])
    OUT = args.out or os.environ.get("NAGD_EXAMPLES_OUT") or tempfile.mkdtemp(prefix="nagd-classroom-")
    os.makedirs(OUT, exist_ok=True)
    QUICK = args.quick
STEPS = 40 if QUICK else 200
GRID = 9 if QUICK else 21


def show(fig, name):
    """Show fig inline in Jupyter; save it as OUT/name.png when run as a script."""
    if OUT is None:
        plt.show()
    else:
        fig.savefig(os.path.join(OUT, name + ".png"), dpi=90)
        plt.close(fig)


def q(p):
    """Return q(x, y) = 8x^2 + y^2/2."""
    return 8.0 * p[0] ** 2 + 0.5 * p[1] ** 2


def grad_q(p):
    """Return the gradient (16x, y) of q."""
    return np.array([16.0 * p[0], p[1]])


# %% [markdown]
# ## 2. The first-order model along the gradient
# From a point x, walk against the gradient g with step size eta. To first order
# (equation 3 of the paper)
#
#     f(x - eta g) ~ f(x) - eta |g|^2,
#
# a straight line in eta with slope -|g|^2. Newton-Raphson jumps to the root of that line:
# eta = (f(x) - L) / |g|^2. Asking it to remove only the fraction alpha of f - L gives the step
# size of NaGD:
#
#     eta = alpha (f(x) - L) / |g|^2.
#
# Below: q along the ray from (0.5, 1), its tangent line, and the tangent's root.

# %%
x0 = np.array([0.5, 1.0])
f0, g0 = q(x0), grad_q(x0)
etas = np.linspace(0.0, 1.6 * f0 / (g0 @ g0), 200)
along = [q(x0 - eta * g0) for eta in etas]
tangent = f0 - etas * (g0 @ g0)
eta_newton = f0 / (g0 @ g0)

fig, ax = plt.subplots(figsize=(6, 4))
ax.plot(etas, along, label="q(x - eta g)")
ax.plot(etas, tangent, "--", label="first-order model q(x) - eta |g|^2")
ax.axhline(0.0, color="k", lw=0.6)
ax.axvline(eta_newton, color="tab:green", lw=0.8, label="Newton-Raphson: eta = q / |g|^2")
ax.set(xlabel="step size eta", ylabel="value", ylim=(-0.5 * f0, 1.1 * f0),
       title="the step that zeroes the first-order model")
ax.legend(fontsize=8)
fig.tight_layout()
show(fig, "classroom_first_order_model")
print(f"at x = {x0}: q = {f0:.3f}, |g|^2 = {g0 @ g0:.3f}, Newton step size {eta_newton:.5f}, "
      f"q after that step {q(x0 - eta_newton * g0):.4f} (the model predicted 0)")

# %% [markdown]
# ### How much does one step really remove?
# The model says a step with fraction alpha removes alpha (f - L). The truth bends away from the
# straight line: for a quadratic along one eigendirection it removes alpha (1 - alpha/4), so
# alpha = 2 removes everything and alpha = 4 nothing. That is why useful alphas lie in (0, 2].
# Between 2 and 4 the step jumps past the minimum along its line and still lowers q: the
# equivalent-alpha notebook (`notebooks/equivalent_alpha.py`) shows what that means when we read
# the steps of gradient descent.

# %%
alphas = np.linspace(0.0, 3.0, 61)
removed = [1.0 - q(x0 - a * f0 / (g0 @ g0) * g0) / f0 for a in alphas]
fig, ax = plt.subplots(figsize=(6, 4))
ax.plot(alphas, alphas, "--", label="first-order model: alpha")
ax.plot(alphas, removed, label="actual fraction of q removed, from (0.5, 1)")
ax.plot(alphas, alphas * (1 - alphas / 4), ":", label="one-dimensional quadratic: alpha (1 - alpha/4)")
ax.set(xlabel="alpha", ylabel="fraction of f - L removed by one step", ylim=(-0.5, 3.0))
ax.legend(fontsize=8)
fig.tight_layout()
show(fig, "classroom_fraction_removed")
best = alphas[int(np.argmax(removed))]
print(f"from (0.5, 1) one step removes the most of q at alpha = {best:.2f} ({max(removed):.1%})")

# %% [markdown]
# ## 3. The whole method in three lines, checked against nagd
# The cap max_lr (1 in the paper) keeps the step finite where |g| is tiny but f - L is not.


# %%
def nagd_by_hand(x, alpha, steps, f=q, grad=grad_q, lower_bound=0.0, max_lr=1.0):
    """Return the iterates of x <- x - min(max_lr, alpha (f - L) / |g|^2) g."""
    path = [np.array(x, dtype=float)]
    for _ in range(steps):
        g = grad(path[-1])
        gg = np.sum(g * g)          # summed in order, as nagd does (g @ g rounds differently per CPU)
        eta = min(max_lr, alpha * (f(path[-1]) - lower_bound) / gg) if gg > 0 else 0.0
        path.append(path[-1] - eta * g)
    return np.array(path)


def run(opt, x, steps, f=q, grad=grad_q):
    """Return the iterates of one of nagd's in-place optimizers."""
    x = np.array(x, dtype=float)
    path = [x.copy()]
    for _ in range(steps):
        opt.step(x, grad(x), f(x))
        path.append(x.copy())
    return np.array(path)


by_hand = nagd_by_hand([1.0, 1.0], alpha=0.7, steps=STEPS)
library = run(NaGD(alpha=0.7), [1.0, 1.0], STEPS)
print(f"largest difference between the hand-written and nagd's iterates: "
      f"{np.abs(by_hand - library).max():.2e}")

# %% [markdown]
# ## 4. Scale invariance
# Multiply the function by 10. The gradient is 10 times longer, the step size eta 10 times
# smaller: NaGD takes exactly the same steps. Gradient descent takes steps 10 times longer, so
# its best learning rate depends on the scale of the loss.


# %%
def ten_q(p):
    """Return 10 q."""
    return 10.0 * q(p)


def ten_grad_q(p):
    """Return the gradient of 10 q."""
    return 10.0 * grad_q(p)


# (The cap max_lr = 1 is not reached here; a cap on eta is not scale invariant, max_lr / 10 is.)
# Rounding differs between q and 10 q in the last bit, and the iterates spiral into the minimum,
# so we compare the first 25 steps, relative to the size of the iterate.
N = 25
nagd_1 = run(NaGD(alpha=0.7), [1.0, 1.0], N)
nagd_10 = run(NaGD(alpha=0.7), [1.0, 1.0], N, f=ten_q, grad=ten_grad_q)
sgd_1 = run(SGD(lr=0.01), [1.0, 1.0], N)
sgd_10 = run(SGD(lr=0.01), [1.0, 1.0], N, f=ten_q, grad=ten_grad_q)


def relative_gap(a, b):
    """Return the largest distance between matching iterates, relative to the iterate's length."""
    return float((np.linalg.norm(a - b, axis=1) / np.linalg.norm(a, axis=1)).max())


nagd_gap, sgd_gap = relative_gap(nagd_1, nagd_10), relative_gap(sgd_1, sgd_10)
print(f"NaGD on q and on 10 q: iterates differ by at most {nagd_gap:.1e} (relative)")
print(f"SGD  on q and on 10 q: iterates differ by up to {sgd_gap:.1e} (relative)")

fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
for ax, (name, a, b) in zip(axes, [("NaGD(alpha=0.7)", nagd_1, nagd_10), ("SGD(lr=0.01)", sgd_1, sgd_10)]):
    ax.plot(a[:, 0], a[:, 1], "o-", ms=3, label="on q")
    ax.plot(b[:, 0], b[:, 1], "x--", ms=4, label="on 10 q")
    ax.set(title=name, xlabel="x", ylabel="y")
    ax.legend()
fig.tight_layout()
show(fig, "classroom_scale_invariance")

# %% [markdown]
# ## 5. Two vector fields, one set of curves, different speeds
# Gradient descent follows the field -g, NaGD the field -(f - L) g / |g|^2: the same direction
# everywhere, so their small-step limits trace the same curves, at different speeds. The ratio of
# their lengths (scaled by the ratio of the best hyperparameters of the paper's Table 1,
# alpha = 1.9 and lr = 0.1156) is
#
#     ratio = (alpha / lr) (f - L) / |g|^2.
#
# Blue circles where NaGD moves faster, red where SGD does; the area grows with the ratio of
# the faster to the slower (the paper's Figure 3). NaGD wins near the valley floor (the y-axis).

# %%
alpha_best, lr_best = 1.9, 0.1156
xs = np.linspace(-1.0, 1.0, GRID)
ys = np.linspace(-1.0, 1.0, GRID)
X, Y = np.meshgrid(xs, ys)
F = 8.0 * X ** 2 + 0.5 * Y ** 2
G2 = (16.0 * X) ** 2 + Y ** 2
with np.errstate(divide="ignore", invalid="ignore"):
    ratio = np.where(G2 > 0, (alpha_best / lr_best) * F / G2, np.nan)
faster = np.where(ratio >= 1, ratio, 1 / ratio)

fig, ax = plt.subplots(figsize=(5.5, 5))
blue = ratio >= 1
ax.scatter(X[blue], Y[blue], s=20 * faster[blue], color="tab:blue", alpha=0.5, label="NaGD faster")
ax.scatter(X[~blue & ~np.isnan(ratio)], Y[~blue & ~np.isnan(ratio)],
           s=20 * faster[~blue & ~np.isnan(ratio)], color="tab:red", alpha=0.5, label="SGD faster")
ax.set(xlabel="x", ylabel="y", title="speed ratio of the two vector fields on q")
ax.legend(loc="upper right", fontsize=8)
fig.tight_layout()
show(fig, "classroom_speed_ratio")
off_axis = ratio[np.abs(X) >= 0.5].min()
on_axis = ratio[(X == 0) & (Y != 0)].min()
print(f"NaGD/SGD speed: {off_axis:.2f}x at |x| >= 0.5 (SGD faster), {on_axis:.1f}x on the y-axis")
if OUT is not None:
    print(f"figures written to {OUT}")

# %% [markdown]
# ## Try this
# - Change `alpha` in `nagd_by_hand` to 1.9, then to 2.0: how many steps until q < 1e-12?
# - Give `nagd_by_hand` a wrong `lower_bound`, 0.5 (above the minimum) or -0.5 (below it): where
#   does the iteration stop, and how fast does it get there?
# - Replace q by 8x^4 + y^2/2. Its minimum is still 0 at (0, 0), but no longer a double root in x:
#   which alpha works best now?
