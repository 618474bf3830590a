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
# # What an equivalent alpha above 2 means
#
# Open this file in Jupyter as a notebook (`pip install -e ".[notebooks]"`, then in JupyterLab
# right-click it: *Open With > Notebook*; or convert it: `jupytext --to ipynb notebooks/equivalent_alpha.py`),
# and the figures appear inline. Run as a script, it saves them:
#
#     python notebooks/equivalent_alpha.py [OUT_DIR]
#
# into OUT_DIR, `$NAGD_EXAMPLES_OUT`, or a new temporary folder.
#
# ## 1. The equivalent alpha of a gradient step
# A gradient step x <- x - lr g changes f, to first order, by -lr |g|^2. As a fraction of the gap
# f - L to a lower bound L, that is
#
#     alpha_eq = lr |g|^2 / (f - L),
#
# the *equivalent alpha* of the step: the alpha with which NaGD would have taken the very same
# step. Every optimizer in `nagd.optim` records it after each step as `last_alpha`, and
# `nagd.equivalent_alpha(lr, loss, grad)` computes it.
#
# The first-order model says a step removes alpha_eq (f - L). So what does a step with
# alpha_eq = 3 do, which "removes 300 %" of the gap? This notebook works it out exactly on a
# least-squares problem, where the answer can be checked against the eigenvalues.

# %%
import argparse
import os
import sys
import tempfile

import matplotlib.pyplot as plt
import numpy as np

import nagd
from nagd.optim import SGD, AlphaMonitoredSGD


def in_jupyter():
    """True inside a Jupyter kernel, whose command line holds its connection file, not our options."""
    ipython = sys.modules.get("IPython")
    return ipython is not None and type(ipython.get_ipython()).__name__ == "ZMQInteractiveShell"


if in_jupyter():
    OUT = None                                            # figures inline
else:                                                     # a script: figures saved
    parser = argparse.ArgumentParser(description="What an equivalent alpha above 2 means")
    parser.add_argument("out", nargs="?", help="folder for the figures")
    args = parser.parse_args(sys.argv[1:] if __name__ == "__main__" else [])
    OUT = args.out or os.environ.get("NAGD_EXAMPLES_OUT") or tempfile.mkdtemp(prefix="nagd-alpha-")
    os.makedirs(OUT, exist_ok=True)


def show(fig, name):
    """Show fig inline in Jupyter; save it as OUT/name.png when run as a script."""
    if OUT is None:
        plt.show()
    else:
        fig.savefig(os.path.join(OUT, name + ".png"), dpi=90)
        plt.close(fig)


print("a step of lr 0.1 on a loss of 12.5 with gradient (3, 4): alpha_eq =",
      nagd.equivalent_alpha(0.1, 12.5, np.array([3.0, 4.0])))

# %% [markdown]
# ## 2. The exact answer on a quadratic
# Take f(w) = (w - w*)^T H (w - w*) / 2 with minimum value L = 0, and write w - w* = sum c_i v_i
# in the eigenvectors v_i of H (eigenvalues lambda_i). Then f = sum lambda_i c_i^2 / 2 and
# g = sum lambda_i c_i v_i, so
#
#     alpha_eq = lr |g|^2 / f = sum_i s_i a_i,   with a_i = 2 lr lambda_i and s_i = lambda_i c_i^2 / (2 f),
#
# the average of the a_i weighted by each direction's share s_i of f. One gradient step multiplies
# c_i by 1 - lr lambda_i = 1 - a_i / 2, hence f by sum_i s_i (1 - a_i/2)^2, and removes the fraction
#
#     sum_i s_i a_i (1 - a_i / 4)  <=  alpha_eq (1 - alpha_eq / 4)
#
# (the parabola is concave: Jensen's inequality), with equality when w - w* lies along one
# eigenvector. So, on a quadratic:
#
# | equivalent alpha | the step                                                         |
# |------------------|------------------------------------------------------------------|
# | below 2          | stops short of the minimum along its line                        |
# | 2                | reaches it, along an eigenvector: removes all of f - L          |
# | between 2 and 4  | jumps past it and bounces across the valley, and can still lower f |
# | 4 or more        | cannot lower f: at best it stays, along an eigenvector it grows  |
#
# The model's "removes 300 %" is wrong, but the step is not wasted: alpha_eq = 3 removes up to
# 3 (1 - 3/4) = 75 % of f - L. Let us check this on a least-squares problem whose Hessian has
# eigenvalues from 0.5 to 2.


# %%
def least_squares(n_samples=200, n_features=10, lmin=0.5, lmax=2.0, seed=0):
    """f(w) = |A w - y|^2 / (2 n) with Hessian eigenvalues lmin..lmax and minimum value 0.

    Returns fun (w -> (f, grad)), the number of features and the Hessian's eigenvalues.
    """
    rng = np.random.default_rng(seed)
    U, _ = np.linalg.qr(rng.standard_normal((n_samples, n_features)))
    V, _ = np.linalg.qr(rng.standard_normal((n_features, n_features)))
    A = U @ np.diag(np.sqrt(n_samples * np.linspace(lmin, lmax, n_features))) @ V.T
    y = A @ rng.standard_normal(n_features)

    def fun(w):
        r = A @ w - y
        return 0.5 * (r @ r) / n_samples, A.T @ r / n_samples

    return fun, n_features, np.linalg.eigvalsh(A.T @ A / n_samples)


def run(opt, fun, n_features, steps):
    """Full-batch gradient descent from w = 0: the loss, equivalent alpha and lr of each step."""
    w = np.zeros(n_features)
    losses, alphas, lrs = [], [], []
    for _ in range(steps):
        f, g = fun(w)
        lrs.append(opt.step(w, g, f))
        losses.append(f)
        alphas.append(opt.last_alpha)
    return np.array(losses), np.array(alphas), np.array(lrs)


fun, n, eig = least_squares()
lmin, lmax = eig[0], eig[-1]
best_lr = 2.0 / (lmin + lmax)              # the best constant learning rate on a quadratic
print(f"eigenvalues {lmin:.3f} .. {lmax:.3f}; best constant lr 2/(lmin + lmax) = {best_lr:.3f}; "
      f"gradient descent converges for lr < 2/lmax = {2 / lmax:.3f}")

# %% [markdown]
# ## 3. Every step against the bound
# Learning rates from a quarter of the best one to just above the limit of convergence 2/lmax.
# For each step: its equivalent alpha and the fraction of f it really removed (negative when f
# grew). Every point lies on or below the parabola alpha (1 - alpha/4).

# %%
STEPS = 300
grid = [0.25 * best_lr, 0.5 * best_lr, 0.8 * best_lr, 1.1 * best_lr, 0.96 * 2 / lmax, 1.02 * 2 / lmax]
histories = {lr: run(SGD(lr=lr), fun, n, STEPS) for lr in grid}

fig, ax = plt.subplots(figsize=(6.5, 4.5))
worst = -np.inf                            # the largest excess of a step over the bound
for lr, (losses, alphas, _) in histories.items():
    live = losses[:-1] > 1e-12 * losses[0]             # before rounding noise
    removed = 1.0 - losses[1:][live] / losses[:-1][live]
    a = alphas[:-1][live]
    worst = max(worst, float(np.max(removed - a * (1 - a / 4))))
    ax.plot(a, removed, ".", ms=3, label=f"lr = {lr:.3f}")
curve = np.linspace(0.0, 4.5, 200)
ax.plot(curve, curve * (1 - curve / 4), "k-", lw=1, label="alpha (1 - alpha/4)")
ax.plot(curve, curve, "k:", lw=1, label="first-order model: alpha")
ax.axvline(2.0, color="grey", lw=0.6)
ax.axvline(4.0, color="grey", lw=0.6)
ax.set(xlabel="equivalent alpha of the step", ylabel="fraction of f removed by the step",
       ylim=(-0.6, 1.2), title="one gradient step on least squares")
ax.legend(fontsize=7, loc="lower left")
fig.tight_layout()
show(fig, "alpha_fraction_removed")
print(f"largest excess of a step over alpha (1 - alpha/4): {worst:.1e} (rounding)")

# %% [markdown]
# ## 4. Where the equivalent alpha settles, and what it says about the learning rate
# After a few steps gradient descent moves along its slowest-converging eigenvector: the flattest
# one (lambda_min) when lr is below the best constant rate 2/(lmin + lmax), the steepest one
# (lambda_max) above it. There alpha_eq settles at 2 lr lambda, and f shrinks by the factor
# (1 - alpha_eq/2)^2 per step. So the settled value reads off both the learning rate's side of the
# optimum and the speed:
#
# - settled below 2: lr is below the best rate (steady, maybe slow: 0.2 gives 0.81 per step);
# - settled between 2 and 4: lr is above the best rate; the iterates bounce across the steep
#   direction, yet the run converges (3.52 gives 0.58 per step, *faster* than alpha 0.2);
# - settled at 4 or more: lr >= 2/lmax and the run diverges.
#
# An equivalent alpha above 2 therefore says "the learning rate is higher than the best one", not
# "no progress": only from 4 on does gradient descent stop making progress on a quadratic.


# %%
def steps_to(losses, target):
    """The first step whose loss is <= target (None if none)."""
    hit = np.flatnonzero(losses <= target)
    return int(hit[0]) if hit.size else None


fig, (ax_loss, ax_alpha) = plt.subplots(1, 2, figsize=(11, 4))
runs = []
for lr, (losses, alphas, _) in histories.items():
    live = np.flatnonzero(losses > 1e-20 * losses[0])
    settled = float(np.median(alphas[live[-max(len(live) // 5, 1):]]))   # the last fifth before rounding
    predicted = 2 * lr * (lmax if lr > best_lr else lmin)
    runs.append({"lr": lr, "settled_alpha": settled, "predicted": predicted,
                 "factor": (1 - settled / 2) ** 2, "converges": bool(losses[-1] < 1e-12 * losses[0]),
                 "steps_to_1e-12": steps_to(losses, 1e-12 * losses[0])})
    shown = slice(0, live[-1] + 1)
    line, = ax_loss.semilogy(losses[shown], lw=1, label=f"lr = {lr:.3f}")
    ax_alpha.plot(alphas[shown], lw=1, color=line.get_color())
for level in (2.0, 4.0):
    ax_alpha.axhline(level, color="k", ls="--", lw=0.7)
ax_loss.set(xlabel="step", ylabel="loss", ylim=(1e-25, 1e5), title="gradient descent (until rounding)")
ax_alpha.set(xlabel="step", ylabel="equivalent alpha", ylim=(0, 4.5), title="equivalent alpha of each step")
ax_loss.legend(fontsize=7)
fig.tight_layout()
show(fig, "alpha_settles")

print(" lr     settled alpha  2 lr lambda  factor per step  converges  steps to 1e-12")
for r in runs:
    print(f"{r['lr']:.3f}  {r['settled_alpha']:13.3f}  {r['predicted']:11.3f}  {r['factor']:15.3f}  "
          f"{str(r['converges']):9}  {r['steps_to_1e-12']}")

# %% [markdown]
# ## 5. Using it: cut the learning rate when alpha stays above 2
# `AlphaMonitoredSGD` divides the learning rate by 3 when the equivalent alpha has been 2 or more
# for 3 steps in a row: it walks a learning rate that is too high down below the best one. Started
# just below divergence (alpha about 3.84, where plain gradient descent is slow because
# (1 - 3.84/2)^2 = 0.85), it converges much sooner.

# %%
lr0 = 0.96 * 2 / lmax
plain = histories[lr0][0]
monitored, _, lrs_monitored = run(AlphaMonitoredSGD(lr=lr0), fun, n, STEPS)
rescue = {"plain": steps_to(plain, 1e-12 * plain[0]), "monitored": steps_to(monitored, 1e-12 * monitored[0])}
fig, ax = plt.subplots(figsize=(6, 4))
ax.semilogy(plain, label=f"SGD(lr={lr0:.3f})")
ax.semilogy(monitored, label="AlphaMonitoredSGD, same start")
ax.set(xlabel="step", ylabel="loss", ylim=(1e-25, 1e2), title="cutting lr while the equivalent alpha stays >= 2")
ax.legend()
fig.tight_layout()
show(fig, "alpha_monitored_rescue")
print(f"steps to a 1e12-fold reduction: SGD {rescue['plain']}, AlphaMonitoredSGD {rescue['monitored']} "
      f"(its lr ends at {lrs_monitored[-1]:.3f}, the best constant one is {best_lr:.3f})")

# %% [markdown]
# ## 6. And the paper?
# In the paper's layer-matching experiment (minibatches, a network), SGD stopped improving once
# its equivalent alpha rose above 2. That is an observation on that task, not a law: on a
# deterministic quadratic, steps with alpha between 2 and 4 still make progress, and what an
# alpha above 2 reliably says is that the learning rate is above the best constant one.
#
# ## Try this
# - Add `lr = 2.1 / lmax` to `grid`: where does its equivalent alpha settle, and what does the loss do?
# - Make the problem worse conditioned (`lmax=20`): how do the best lr and the settled alphas move?
# - Start from a point along the steepest eigenvector only: is the bound of section 3 then tight?
if OUT is not None:
    print(f"figures written to {OUT}")
