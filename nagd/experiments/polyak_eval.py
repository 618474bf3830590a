"""Evaluation of the Polyak family on the paper's tasks, and of the oscillation stopping rule.

Not a section of the paper (it is not in `nagd.experiments.SECTIONS`, so ``nagd
reproduce all`` stays the paper), but it follows the section contract, so the
runner stores, resumes and parallelises its runs::

    python benchmarks/eval_polyak.py [TARGET ...] [--quick] [--out DIR] [--jobs N]

or, from Python, ``runner.load_sections(["nagd.experiments.polyak_eval"])`` and the
usual `runner.plan` / `runner.run_suite` / `runner.load_runs`.

Every variant of `VARIANTS` runs with hyperparameters taken once from its paper
or official code (no tuning per task). One run of a config trains every variant
on the data, initial weights and sample order of the run's seed, so variants are
compared on common random numbers; the deterministic section-2 configs have one
run.
"""
import math

import numpy as np

from .. import optim, problems
from ..diagnostics import OscillationStop

__all__ = ["VARIANTS", "CONFIGS", "QUICK", "TARGETS", "PUBLISHED", "run", "report"]

PUBLISHED = {}
"""The paper publishes nothing on these variants."""

VARIANTS = [
    # (label, name for nagd.optim.make, keyword arguments)
    ("NaSGD(0.7)", "nasgd", {"alpha": 0.7}),
    ("heavy-ball NaGD(0.7, mu=0.5)", "PolyakSGD", {"alpha": 0.7, "momentum": 0.5}),
    ("jaxopt PolyakSGD(mu=0.9)", "PolyakSGD", {"alpha": 1.0, "momentum": 0.9}),
    ("SPS_max(c=0.5, gamma_b=1)", "sps_max", {"c": 0.5, "gamma_b": 1.0}),
    ("SPS+", "sps_plus", {}),
    ("ALI-G(max_lr=1, mu=0.9)", "alig", {"max_lr": 1.0, "momentum": 0.9}),
    ("MoMo(lr=1, beta=0.9)", "momo", {"lr": 1.0, "beta": 0.9}),
    ("MoMo-Adam(lr=1e-2)", "momo_adam", {"lr": 1e-2}),
    ("NaGD(0.7, L=auto)", "PolyakSGD", {"alpha": 0.7, "lower_bound": "auto"}),
    ("MoMo(L=auto)", "MoMo", {"max_lr": 1.0, "beta": 0.9, "lower_bound": "auto"}),
    ("SGD(lr=0.01)", "SGD", {"lr": 0.01}),
    ("Adam(lr=1e-3)", "Adam", {"lr": 1e-3}),
]

RULE = {"window": 100, "min_drop": 0.05, "patience": 3}

PROBLEMS = {"quadratic": ([1.0, 1.0], [1e-2, 1e-6, 1e-10]), "rosenbrock": ([-3.0, -4.0], [1.0, 1e-2, 1e-6])}



CONFIGS = {
    "simple": {"task": "simple", "runs": 1, "steps": 5000},
    "layer": {"task": "layer", "runs": 10, "epochs": 45, "dtype": "float32", "loss": "distance"},
    "mnist": {"task": "mnist", "runs": 3, "epochs": 2, "batch_size": 60, "n_train": None, "n_test": None},
    "stop_simple": {"task": "stop_simple", "runs": 1, "steps": 3000, "windows": [100, 20], "rule": RULE},
    "stop_layer": {"task": "stop_layer", "runs": 10, "epochs": 90, "dtypes": ["float32", "float64"],
                   "rule": RULE},
}
QUICK = {
    "simple": dict(CONFIGS["simple"], steps=300),
    "layer": dict(CONFIGS["layer"], runs=2, epochs=3),
    "mnist": dict(CONFIGS["mnist"], runs=1, epochs=1, n_train=120, n_test=60),
    "stop_simple": dict(CONFIGS["stop_simple"], steps=400),
    "stop_layer": dict(CONFIGS["stop_layer"], runs=2, epochs=6, rule=dict(RULE, window=50)),
}
TARGETS = {"polyak": ["simple", "layer", "mnist"], "polyak_simple": ["simple"], "polyak_layer": ["layer"],
           "polyak_mnist": ["mnist"], "polyak_stop": ["stop_simple", "stop_layer"]}


def _finite(v):
    """A JSON-safe float: None for inf/NaN."""
    v = float(v)
    return v if math.isfinite(v) else None


# -- section 2 ------------------------------------------------------------------

def _descend(opt, name, steps):
    """Run opt on a section-2 function; return f at every iterate (inf once it diverges) and the step sizes."""
    f, g = getattr(problems, name), getattr(problems, name + "_grad")
    x = np.array(PROBLEMS[name][0])
    fs, lrs = [], []
    with np.errstate(all="ignore"):
        for _ in range(steps):
            fx, gx = float(f(x)), g(x)
            if not (math.isfinite(fx) and abs(fx) < 1e100 and np.all(np.isfinite(gx))):
                fs.append(math.inf)
                return np.array(fs), np.array(lrs)
            fs.append(fx)
            lrs.append(opt.step(x, gx, fx))
        fs.append(float(f(x)))
    return np.array(fs), np.array(lrs)


def _run_simple(config):
    out = {}
    for name, (_, levels) in PROBLEMS.items():
        rows = {}
        for label, optimizer, params in VARIANTS:
            fs, _ = _descend(optim.make(optimizer, **params), name, config["steps"])
            reach = []
            for t in levels:
                hit = np.nonzero(fs <= t)[0]
                reach.append(int(hit[0]) + 1 if hit.size else None)   # the paper counts x_0 as step 1
            rows[label] = {"reach": reach, "final": _finite(fs[-1])}
        out[name] = rows
    return out


def _run_stop_simple(config):
    rows = []
    for name in PROBLEMS:
        for alpha in ((0.7, 1.9) if name == "quadratic" else (0.7, 1.6)):
            fs, lrs = _descend(optim.NaGD(alpha=alpha), name, config["steps"])
            for window in config["windows"]:
                rule = OscillationStop(**dict(config["rule"], window=window))
                t = next((k + 1 for k, v in enumerate(lrs) if rule.update(v)), None)
                rows.append({"function": name, "alpha": alpha, "window": window, "stop": t,
                             "f_stop": _finite(fs[t] if t is not None else fs[-1]), "f_end": _finite(fs[-1])})
    return {"rows": rows}


# -- layer matching -------------------------------------------------------------

def _layer(seed, dtype, epochs):
    from .layer_matching import make_layer_matching
    from . import layer_matching as lm
    data = make_layer_matching(seed, dtype=dtype)
    p = lm.initial_params(seed).astype(dtype)
    return lm, data, p, lm.sample_order(seed, data.X_train.shape[0], epochs)


def _run_layer(config, seed):
    dtype = np.dtype(config["dtype"]).type
    out = {}
    for label, optimizer, params in VARIANTS:
        lm, data, p, order = _layer(seed, dtype, config["epochs"])
        with np.errstate(all="ignore"):
            try:
                r = lm.train_python(p, data.X_train, data.y_train, data.X_test, data.y_test, order,
                                    optim.make(optimizer, **params), eval_every=100, loss=config["loss"])
                dist = [_finite(v) for v in r["distance"]]
            except (ValueError, FloatingPointError):
                dist = [None] * (config["epochs"] + 1)
        out[label] = dist
    return {"distance": out}


def _run_stop_layer(config, seed):
    out = {}
    for dt in config["dtypes"]:
        lm, data, p, order = _layer(seed, np.dtype(dt).type, config["epochs"])
        r = lm.train_compiled(p, data.X_train, data.y_train, data.X_test, data.y_test, order,
                              optim.NaGD(alpha=0.7), eval_every=1)
        rule = OscillationStop(**config["rule"])
        t = next((k + 1 for k, v in enumerate(r["lr"]) if rule.update(v)), None)
        dist = np.asarray(r["distance"])
        half = len(order) // 2
        out[dt] = {"stop": t, "steps": len(order), "d_stop": _finite(dist[t] if t else dist[-1]),
                   "d_half": _finite(dist[half]), "d_end": _finite(dist[-1])}
    return out


# -- MNIST sample ---------------------------------------------------------------

def _run_mnist(config, seed):
    from ..nn import fit, softmax_cross_entropy
    from . import mnist
    Xtr, ytr, Xte, yte, source = mnist.load_data("mnist-sample", "float32")
    pick = np.random.default_rng(0)              # subsets (quick mode) drawn at random: the splits are sorted
    if config["n_train"]:
        idx = np.sort(pick.permutation(len(Xtr))[:config["n_train"]])
        Xtr, ytr = Xtr[idx], ytr[idx]
    if config["n_test"]:
        idx = np.sort(pick.permutation(len(Xte))[:config["n_test"]])
        Xte, yte = Xte[idx], yte[idx]
    out = {}
    for label, optimizer, params in VARIANTS:
        model = mnist.build_model(np.float32, seed=seed)
        try:
            with np.errstate(all="ignore"):
                hist = fit(model, optim.make(optimizer, **params), Xtr, ytr, softmax_cross_entropy,
                        epochs=config["epochs"], batch_size=config["batch_size"], seed=seed,
                        eval_sets={"test": (Xte, yte)},
                        metrics={"loss": softmax_cross_entropy, "acc": mnist.accuracy})
            out[label] = {"acc": _finite(hist["test_acc"][-1]), "loss": _finite(hist["test_loss"][-1])}
        except (ValueError, FloatingPointError):
            out[label] = {"acc": None, "loss": None}
    return {"source": source, "n_train": int(len(Xtr)), "n_test": int(len(Xte)), "variants": out}


def run(config, seed):
    """One run of a config (see the module docstring).

    Parameters
    ----------
    config : dict
        One of `CONFIGS` / `QUICK`.
    seed : int
        Seeds the data, initial weights and sample order (unused by the section-2 configs).

    Returns
    -------
    dict
        JSON data; non-finite values are None.
    """
    task = config["task"]
    if task == "simple":
        return _run_simple(config)
    if task == "stop_simple":
        return _run_stop_simple(config)
    if task == "layer":
        return _run_layer(config, seed)
    if task == "stop_layer":
        return _run_stop_layer(config, seed)
    if task == "mnist":
        return _run_mnist(config, seed)
    raise ValueError(f"config task must be one of simple, layer, mnist, stop_simple, stop_layer, got {task!r}")


# -- report -----------------------------------------------------------------------

def _fmt(v, spec=".1e"):
    return "diverged" if v is None else f"{v:{spec}}"


def _median(values):
    """Median treating None (diverged) as +inf; None if the median itself is infinite."""
    arr = np.array([math.inf if v is None else v for v in values], dtype=float)
    m = float(np.median(arr)) if arr.size else math.inf
    return m if math.isfinite(m) else None


def _table_simple(result, config):
    lines = []
    for name, (x0, levels) in PROBLEMS.items():
        lines += [f"\n**{name}** from {tuple(x0)}, {config['steps']} steps: steps to reach f <= level "
                  "(counting x_0 as step 1; — = never), final f\n",
                  "| variant | " + " | ".join(f"{t:g}" for t in levels) + " | final f |",
                  "|---|" + "---:|" * (len(levels) + 1)]
        for label, _, _ in VARIANTS:
            row = result[name][label]
            reach = ["—" if r is None else str(r) for r in row["reach"]]
            lines.append(f"| {label} | " + " | ".join(reach) + f" | {_fmt(row['final'])} |")
    return "\n".join(lines)


def _table_layer(results, config):
    n = len(results)
    e15 = min(15, config["epochs"])
    lines = [f"\nLayer matching, {config['dtype']}, batch 1, {config['epochs']} epochs of 100 steps, "
             f"{config['loss']} loss, {n} runs: median test distance (min-max)\n",
             f"| variant | after {e15} epochs | after {config['epochs']} epochs |", "|---|---:|---:|"]
    for label, _, _ in VARIANTS:
        mid = [r["distance"][label][e15] for r in results]
        end = [r["distance"][label][-1] for r in results]
        lo = min((v for v in end if v is not None), default=None)
        hi = None if any(v is None for v in end) else max(end)
        lines.append(f"| {label} | {_fmt(_median(mid))} | {_fmt(_median(end))} ({_fmt(lo)}-{_fmt(hi)}) |")
    return "\n".join(lines)


def _table_mnist(results, config):
    first = results[0]
    subset = f" (a random {first['n_train']} / {first['n_test']} of them)" if config["n_train"] else ""
    lines = [f"\n{first['source']}{subset}; the "
             f"paper's network, float32, batch {config['batch_size']}, {config['epochs']} epochs, "
             f"{len(results)} runs: median test accuracy and loss\n",
             "| variant | test accuracy | test loss |", "|---|---:|---:|"]
    for label, _, _ in VARIANTS:
        acc = _median([r["variants"][label]["acc"] for r in results])
        loss = _median([r["variants"][label]["loss"] for r in results])
        lines.append(f"| {label} | {_fmt(acc, '.3f')} | {_fmt(loss, '.3f')} |")
    return "\n".join(lines)


def _table_stop_simple(result, config):
    lines = ["| function | alpha | rule window | stop step | f at stop | f after budget | steps saved |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    budget = config["steps"]
    for r in result["rows"]:
        t = r["stop"]
        saved = f"{budget - t} ({100 * (budget - t) / budget:.0f}%)" if t else "0"
        lines.append(f"| {r['function']} | {r['alpha']} | {r['window']} | {t or '—'} | {_fmt(r['f_stop'])} | "
                     f"{_fmt(r['f_end'])} | {saved} |")
    return "\n".join(lines)


def _table_stop_layer(results, config):
    steps = results[0][config["dtypes"][0]]["steps"]
    lines = [f"| dtype | runs stopped | median stop step | median distance at stop | at {steps // 2} steps | "
             f"at {steps} steps | median steps saved (of {steps}) |", "|---|---:|---:|---:|---:|---:|---:|"]
    for dt in config["dtypes"]:
        rows = [r[dt] for r in results]
        stops = [r["stop"] if r["stop"] else r["steps"] for r in rows]
        lines.append(f"| {dt} | {sum(r['stop'] is not None for r in rows)}/{len(rows)} | {int(np.median(stops))} | "
                     f"{_fmt(_median([r['d_stop'] for r in rows]))} | {_fmt(_median([r['d_half'] for r in rows]))} | "
                     f"{_fmt(_median([r['d_end'] for r in rows]))} | {int(np.median([steps - s for s in stops]))} |")
    return "\n".join(lines)


_TABLES = {"simple": ("Section-2 functions", _table_simple, True),
           "layer": ("Layer matching", _table_layer, False),
           "mnist": ("MNIST sample", _table_mnist, False),
           "stop_simple": ("Stopping rule: section-2 functions (NaGD, float64)", _table_stop_simple, True),
           "stop_layer": ("Stopping rule: layer matching (NaSGD(0.7), batch 1)", _table_stop_layer, False)}


def report(runs, out_dir):
    """Write ``polyak.md`` into out_dir from stored runs and return its Markdown.

    Parameters
    ----------
    runs : dict
        ``{config_name: [runner.Run, ...]}``; each table describes the config its runs were made
        with (full or quick).
    out_dir : str or path-like

    Returns
    -------
    str
    """
    import os
    parts = ["## The Polyak family\n"]
    for name, (title, table, single) in _TABLES.items():
        recs = runs.get(name)
        if not recs:
            continue
        config, results = recs[0].config, [r.result for r in recs]
        parts.append(f"\n### {title}\n")
        parts.append(table(results[0] if single else results, config))
    text = "\n".join(parts) + "\n"
    from .report import write_text
    write_text(os.path.join(out_dir, "polyak.md"), text)
    return text
