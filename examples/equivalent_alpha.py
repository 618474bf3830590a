"""Reading the equivalent alpha of a gradient-descent run to spot a learning rate that is too high.

Every optimizer in nagd.optim records, after each step, the step's *equivalent alpha*: the fraction
of f - L that the first-order model predicts the step removes. What a step really removes is known
exactly on a quadratic: at most a (1 - a/4) of f - L for an equivalent alpha a, with equality along
an eigenvector. A step with a between 2 and 4 jumps past the minimum along its line and still
lowers f; only a >= 4 cannot.

Here the loss is a least-squares problem with an exact solution, so the diagnostic can be checked
exactly: gradient descent on a quadratic with Hessian eigenvalues lmin..lmax ends up moving along
its slowest-converging direction, which is the steepest one (equivalent alpha 2*lr*lmax > 2) exactly
when lr is larger than the best constant learning rate 2/(lmin + lmax), and the flattest one
(equivalent alpha 2*lr*lmin < 2) otherwise; f then shrinks by (1 - alpha/2)^2 per step. An
equivalent alpha that settles above 2 therefore says the learning rate is above the best one (the
iterates bounce across the steep direction); the run still converges while the settled value is
below 4 (lr < 2/lmax). The script flags the runs from their equivalent alphas alone, compares the
flags with the eigenvalues, and then lets AlphaMonitoredSGD rescue a run started too high.
notebooks/equivalent_alpha.py works this out step by step.

Usage: python examples/equivalent_alpha.py [OUT_DIR] [--quick]
"""
import argparse
import os
import sys
import tempfile

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from nagd.optim import SGD, AlphaMonitoredSGD  # noqa: E402


def least_squares(n_samples=200, n_features=10, lmin=0.5, lmax=2.0, seed=0):
    """A consistent least-squares problem f(w) = |A w - y|^2 / (2 n) with Hessian eigenvalues lmin..lmax.

    Returns fun (w -> (f, grad)), the number of features and the extreme eigenvalues; the minimum
    value of f is 0.
    """
    rng = np.random.default_rng(seed)
    U, _ = np.linalg.qr(rng.standard_normal((n_samples, n_features)))
    V, _ = np.linalg.qr(rng.standard_normal((n_features, n_features)))
    eig = np.linspace(lmin, lmax, n_features)
    A = U @ np.diag(np.sqrt(n_samples * eig)) @ V.T
    y = A @ rng.standard_normal(n_features)

    def fun(w):
        r = A @ w - y
        return 0.5 * (r @ r) / n_samples, A.T @ r / n_samples

    eig = np.linalg.eigvalsh(A.T @ A / n_samples)
    return fun, n_features, eig[0], eig[-1]


def run(opt, fun, n_features, steps):
    """Full-batch gradient descent from w = 0; return the losses, equivalent alphas and lrs per step."""
    w = np.zeros(n_features)
    losses, alphas, lrs = [], [], []
    for _ in range(steps):
        f, g = fun(w)
        lrs.append(opt.step(w, g, f))
        losses.append(f)
        alphas.append(opt.last_alpha)
    return np.array(losses), np.array(alphas), np.array(lrs)


def steps_to(losses, target):
    """The number of steps after which the loss is first <= target (None if never)."""
    hit = np.flatnonzero(losses <= target)
    return int(hit[0]) if hit.size else None


def output_dir(path=None):
    """The folder for the figures: the argument, $NAGD_EXAMPLES_OUT, or a new temporary folder."""
    path = path or os.environ.get("NAGD_EXAMPLES_OUT") or tempfile.mkdtemp(prefix="nagd-examples-")
    os.makedirs(path, exist_ok=True)
    return path


def script_args():
    """The command-line arguments: sys.argv[1:], or none inside a Jupyter kernel (its argv is its own)."""
    ipython = sys.modules.get("IPython")
    if ipython is not None and type(ipython.get_ipython()).__name__ == "ZMQInteractiveShell":
        return []
    return sys.argv[1:]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", help="folder for the figures")
    parser.add_argument("--quick", action="store_true", help="fewer steps (seconds)")
    args = parser.parse_args(script_args() if argv is None else argv)
    out = output_dir(args.out)
    steps = 150 if args.quick else 1000

    fun, n, lmin, lmax = least_squares()
    best_lr = 2.0 / (lmin + lmax)
    print(f"Hessian eigenvalues in [{lmin:.3f}, {lmax:.3f}]: best constant lr {best_lr:.3f}, "
          f"divergence above {2 / lmax:.3f}")
    # Learning rates from a quarter of the best one to just below divergence.
    grid = np.append(best_lr * np.array([0.25, 0.5, 0.8, 1.1]), 0.96 * 2.0 / lmax)

    fig, (ax_loss, ax_alpha) = plt.subplots(1, 2, figsize=(11, 4))
    runs = []
    for lr in grid:
        losses, alphas, _ = run(SGD(lr=lr), fun, n, steps)
        # The median over the last fifth of the steps taken before the loss reached rounding level.
        live = np.flatnonzero(losses > 1e-20 * losses[0])
        settled = float(np.median(alphas[live[-max(len(live) // 5, 1):]]))
        flagged = settled > 2.0
        runs.append({"lr": float(lr), "settled_alpha": settled, "flagged": flagged,
                     "too_high": bool(lr > best_lr), "final_loss": float(losses[-1]),
                     "converges": bool(losses[-1] < 1e-6 * losses[0])})
        verdict = "above the best lr: bouncing" if flagged else "at or below the best lr"
        print(f"lr = {lr:.4f}: equivalent alpha settles at {settled:5.2f} ({verdict}), "
              f"loss after {steps} steps {losses[-1]:.2e}")
        shown = slice(0, live[-1] + 1)                     # the steps before rounding level
        line, = ax_loss.semilogy(losses[shown], lw=1, label=f"lr={lr:.3f}")
        ax_alpha.plot(alphas[shown], lw=1, color=line.get_color())
    ax_alpha.axhline(2.0, color="k", ls="--", lw=0.8)
    ax_alpha.axhline(4.0, color="k", ls=":", lw=0.8)
    ax_loss.set(xlabel="step", ylabel="loss", title="gradient descent on least squares (until rounding)")
    ax_alpha.set(xlabel="step", ylabel="equivalent alpha", title="equivalent alpha of each step",
                 ylim=(0, 4.2))
    ax_loss.legend(fontsize=8)
    fig.tight_layout()
    path_runs = os.path.join(out, "equivalent_alpha.png")
    fig.savefig(path_runs, dpi=90)
    plt.close(fig)
    agree = all(r["flagged"] == r["too_high"] for r in runs)
    print(f"flags agree with lr > 2/(lmin + lmax) for every run: {agree}; every run with a settled "
          f"alpha below 4 converges: {all(r['converges'] for r in runs if r['settled_alpha'] < 4)}")

    # Rescue: start just below divergence and let the equivalent alpha cut the learning rate.
    lr0 = float(grid[-1])
    plain, _, _ = run(SGD(lr=lr0), fun, n, steps)
    monitored, alphas_m, lrs_m = run(AlphaMonitoredSGD(lr=lr0), fun, n, steps)
    target = 1e-12 * plain[0]
    n_plain, n_monitored = steps_to(plain, target), steps_to(monitored, target)
    print(f"lr0 = {lr0:.4f}: steps to reduce the loss 1e12-fold: SGD {n_plain}, "
          f"AlphaMonitoredSGD {n_monitored} (its lr ends at {lrs_m[-1]:.4f})")
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.semilogy(plain, label=f"SGD(lr={lr0:.3f})")
    ax.semilogy(monitored, label="AlphaMonitoredSGD, same start")
    ax.set(xlabel="step", ylabel="loss", title="cutting lr when the equivalent alpha stays >= 2")
    ax.legend()
    fig.tight_layout()
    path_rescue = os.path.join(out, "alpha_monitored.png")
    fig.savefig(path_rescue, dpi=90)
    plt.close(fig)
    print(f"figures written to {out}")
    return {"runs": runs, "best_lr": best_lr, "plain_steps": n_plain, "monitored_steps": n_monitored,
            "monitored_lrs": lrs_m,
            "figures": [path_runs, path_rescue]}


if __name__ == "__main__":
    main()
