"""Section 4's report: Table 3 and Figure 8, the hypotheses' table, the deciding runs' tables, claims and figures."""
import math
import os

import numpy as np

from .. import verdict
from .configs import (_SERIES, CONFIGS, DECIDE_EPOCHS, HYPOTHESES, HYPOTHESIS_SERIES, KERAS_EPOCHS,
                      LONG_EPOCHS, PUBLISHED)
from .ranking import (FULL_TRAIN, MODES, TEST, TREND_EPOCHS, data_phrase, deciding, findings, full_mnist, holm, label,
                      orderings, short_outcome, trend_slope, value_at, values_at)

__all__ = ["report", "RANKING_EPOCHS"]


def _stats(runs, key):
    curves = np.array([r[key] for r in runs], dtype=float)
    return curves.mean(axis=0), curves.min(axis=0), curves.max(axis=0)


def _pm(mean, se):
    if math.isnan(mean):
        return "—"
    return f"{mean:.4f}" + ("" if math.isnan(se) else f" ± {se:.4f}")


_METRIC_COLUMNS = (("test_accuracy", "test acc. (eval)"), ("test_loss", "test loss (eval)"),
                   ("test_dropout_accuracy", "test acc. (dropout on)"), ("test_dropout_loss", "test loss (dropout on)"),
                   ("train_running_accuracy", "train acc. (running, dropout on)"),
                   ("train_loss", "train loss (running, dropout on)"))

_MODE_TITLE = {"eval mode": "test set, eval mode (dropout off)", "dropout on": "test set, dropout on",
               "running training minibatches": "training minibatches, running (dropout on)"}
RANKING_EPOCHS = (DECIDE_EPOCHS, 100, LONG_EPOCHS)


def _out_of(out_dir):
    """The results folder of a section folder (for commands quoted in the report)."""
    return os.path.dirname(os.path.normpath(out_dir)) or "."


def report(runs, out_dir):
    """Write section 4: its findings, Table 3 and Figure 8, the hypotheses, the deciding runs.

    Parameters
    ----------
    runs : dict
        ``{config_name: [runner.Run, ...]}``; any of the paper's configs (`_SERIES`), the
        hypothesis configs (``hyp_*``) and the deciding configs (``decide_*``, ``decide200_*``)
        may be missing.
    out_dir : str
        Folder for the tables (Markdown, CSV) and figures (PNG).

    Returns
    -------
    str
        The section's Markdown.
    """
    # The records' results in the shape the code below reads ({name: [result, ...]}); the
    # records' configs and seeds are not used here yet.
    runs = {name: [r.result for r in recs] for name, recs in runs.items()}
    os.makedirs(out_dir, exist_ok=True)
    parts = []
    found = findings(runs, _out_of(out_dir))
    if found:
        parts.append("### Section 4 findings\n\n" + "\n".join(f"- {line}" for line in found) + "\n")
    paper = {n: rs for n, rs in runs.items() if n in _SERIES}
    if paper:
        parts.append(_report_paper(paper, out_dir))
    hyp = {n: rs for n, rs in runs.items() if n.startswith("hyp_") and rs}
    if hyp:
        parts.append(_report_hypotheses(hyp, out_dir))
    if any(n.startswith(("decide_", "decide200_")) and rs for n, rs in runs.items()):
        parts.append(_report_decide(runs, out_dir))
    return "\n".join(parts)


def _sample_sd(values):
    """The sample standard deviation (ddof 1) of a table's runs; NaN for one run."""
    return float(np.std(values, ddof=1)) if len(values) > 1 else math.nan


def _six_optimizer_lines(csv_rows, acc, loss):
    """For each variant run with all six optimizers: its ranges per measurement against the paper's, and
    Kendall's τ of its accuracy order against the paper's (one run each: a description, not a test)."""
    columns = [key for key, _ in _METRIC_COLUMNS]
    paper_order = [n for n, _ in PUBLISHED["accuracy"]]
    out = []
    for variant in HYPOTHESES:
        rows = {r[1]: r for r in csv_rows if r[0] == variant and r[2] is not None}
        if set(rows) != set(_SERIES):
            continue
        parts = []
        for mode, akey, lkey in MODES:
            a = {n: r[4 + columns.index(akey)] for n, r in rows.items()}
            v = [r[4 + columns.index(lkey)] for r in rows.values()]
            if any(x is None or math.isnan(x) for x in [*a.values(), *v]):
                continue
            inside = sum(min(acc) <= x <= max(acc) for x in a.values())
            tau = verdict.kendall_tau(sorted(a, key=a.get, reverse=True), paper_order)
            parts.append(f"{mode}: accuracy {min(a.values()):.4f}-{max(a.values()):.4f} ({inside} of 6 inside the "
                         f"paper's range), loss {min(v):.4f}-{max(v):.4f}, accuracy order τ = {tau:+.2f}")
        if parts:
            epochs = min(r[2] for r in rows.values())
            out.append(f"`{variant}`, all six optimizers after {epochs} epochs, one run each (a description, not a "
                       f"test): " + "; ".join(parts) + f". The paper after 200 epochs: accuracy {min(acc):.4f}-"
                       f"{max(acc):.4f}, loss {min(loss):.3f}-{max(loss):.3g}.")
    return out


def _report_hypotheses(runs, out_dir):
    """Table of the hypothesis variants: every metric after their last epoch, beside the paper's range."""
    from ..report import markdown_table, write_csv

    labels = PUBLISHED["labels"]
    acc = [a for _, a in PUBLISHED["accuracy"]]
    loss = [v for _, v in PUBLISHED["loss"]]
    rows, csv_rows = [], []
    every = [r for rs in runs.values() for r in rs]
    full = all(full_mnist(r) for r in every)
    for variant in HYPOTHESES:
        for name in HYPOTHESIS_SERIES[variant]:
            rs = runs.get(f"hyp_{variant}_{name}")
            if not rs:
                continue
            div = [r["diverged_at_step"] for r in rs if r.get("diverged_at_step") is not None]
            rs = [r for r in rs if r.get("diverged_at_step") is None]
            if not rs:
                rows.append([variant, labels[name], "—", len(div)]
                            + [f"diverged (step {min(div)})"] + ["—"] * (len(_METRIC_COLUMNS) - 1))
                csv_rows.append([variant, name, None, len(div)] + [None] * len(_METRIC_COLUMNS))
                continue
            epoch = min(r["epoch"][-1] for r in rs)
            cells = [verdict.mean_se([value_at(r, key, epoch) for r in rs]) for key, _ in _METRIC_COLUMNS]
            rows.append([variant, labels[name], epoch, len(rs)] + [_pm(m, se) for m, se in cells])
            csv_rows.append([variant, name, epoch, len(rs)] + [m for m, _ in cells])
    header = ["variant", "optimizer", "epochs", "runs"] + [title for _, title in _METRIC_COLUMNS]
    positions = []                                # where each measurement puts the variants' accuracies
    columns = [key for key, _ in _METRIC_COLUMNS]
    for mode, akey, _ in MODES:
        values = [row[4 + columns.index(akey)] for row in csv_rows]
        values = [v for v in values if v is not None and not math.isnan(v)]
        if values:
            below = sum(v < min(acc) for v in values)
            above = sum(v > max(acc) for v in values)
            positions.append(f"{mode} ({len(values)} rows): {below} below, {len(values) - below - above} inside, "
                             f"{above} above")
    write_csv(os.path.join(out_dir, "hypotheses.csv"), ["variant", "config", "epochs", "runs"]
              + [key for key, _ in _METRIC_COLUMNS], csv_rows)
    descriptions = {
        "base": "the paper's setting as we read it (softmax cross-entropy, standardised pixels, channel dropout)",
        "bce": "sigmoid outputs and binary cross-entropy on the one-hot target (mean over the 10 outputs)",
        "unit": "pixels scaled to [0, 1], not standardised",
        "raw": "raw pixel values 0..255 (no input normalisation)",
        "elementwise": "element-wise instead of channel dropout after the second convolution",
        "nodropout": "no dropout at all",
        "keras": "Keras' defaults where they differ from PyTorch's: Glorot-uniform weights and zero biases in every "
                 "layer, element-wise dropout, RMSprop rho 0.9, epsilon 1e-7 (Adam, RMSprop, Adagrad), Adagrad's "
                 f"initial accumulator 0.1 (the paper's learning rates; all six optimizers, {KERAS_EPOCHS} epochs)",
        "keras_unit": f"`keras` with pixels scaled to [0, 1] as Keras' MNIST example does ({KERAS_EPOCHS} epochs)",
    }
    inference = (" A variant whose eval-mode accuracy is already above the range after these few epochs cannot "
                 "explain the paper's lower figures by itself; the deciding runs below follow each measurement "
                 "further." if full else
                 f" These runs use {data_phrase([r for r in every if not full_mnist(r)])}: no conclusion is drawn "
                 "from them (`nagd reproduce mnist_hypotheses` runs them on full MNIST).")
    sixes = _six_optimizer_lines(csv_rows, acc, loss) if full else []    # quick runs: the table only
    lines = [
        "### Hypotheses for the paper's levels: training variants and measurements"
        + (" on full MNIST\n" if full else "\n"),
        "Each variant but the Keras ones changes one thing of the base setting; every run also records the metrics a "
        "different measurement would have shown: the test set evaluated with dropout on (train mode), and "
        "the running accuracy and loss over the epoch's training minibatches (dropout on, before each step, "
        "as a Keras `fit` log or PyTorch's example prints them). The paper after 200 epochs: test accuracy "
        f"{min(acc):.4f}-{max(acc):.4f}, test loss {min(loss):.3f}-{max(loss):.3g}. Cells: mean ± standard "
        f"error over runs (no ± with one run). Data: {data_phrase(every)}.\n",
        "\n".join(f"- `{v}`: {d}" for v, d in descriptions.items()) + "\n",
        markdown_table(header, rows),
        (f"\nThe variants' test accuracies against the paper's 200-epoch range {min(acc):.4f}-{max(acc):.4f}: "
         + "; ".join(positions) + "." + inference + "\n") if positions else "",
        "".join(f"\n{line}\n" for line in sixes),
        f"\nCSV: {os.path.basename(os.path.normpath(out_dir))}/hypotheses.csv.\n",
    ]
    return "\n".join(lines)


# The paper's section-4 sentences that compare optimizers, and how each is read as pair tests.
_CLAIMS = (
    ("\"a relatively small convolutional network, but with enough capacity to regularly classify 97% of MNIST "
     "images correctly\"", "level", ()),
    ("\"Adam shows clear performance benefits over RMSprop and Adagrad in both accuracy and loss\"", "better",
     (("adam", "rmsprop"), ("adam", "adagrad"))),
    ("\"SGD performs best in this task\"", "best", ()),
    ("\"norm-adapted gradient descent is certainly competitive with SGD and Adam\"", "competitive",
     (("nasgd", "sgd"), ("nasgd", "sgd_momentum"), ("nasgd", "adam"))),
    ("\"[norm-adapted gradient descent] achieves an edge over RMSprop and Adagrad\"", "better",
     (("nasgd", "rmsprop"), ("nasgd", "adagrad"))),
)
_SGD_SERIES = ("sgd", "sgd_momentum")


def _claim_pairs(kind, pairs, samples, higher):
    if kind != "best":
        return list(pairs)
    means = {n: verdict.mean_se(samples[n])[0] for n in _SGD_SERIES if n in samples}
    best = (max if higher else min)(means, key=means.get)
    return [(best, n) for n in _SERIES if n not in _SGD_SERIES and n in samples]


def _claim_cell(kind, pairs, o, metric):
    """Outcome of a claim's pairs within the ranking's Holm family ``o`` (a verdict.Ordering)."""
    if o.outcome == "undecided":
        return "undecided (fewer than 2 runs)"
    tests = {(p.better, p.worse): p for p in o.pairs}
    parts, statuses = [], []
    for a, b in pairs:
        p = tests.get((a, b)) or tests.get((b, a))
        if p is None:
            continue
        same = (p.better, p.worse) == (a, b)           # the family's pairs follow the paper's ranking
        d = p.difference if same else -p.difference
        status = p.status if same else {"in order": "reversed", "reversed": "in order"}.get(p.status, p.status)
        statuses.append(status)
        parts.append(f"{label(a)} vs {label(b)}: {d:+.4f}, {holm(p.p_holm)}")
    if not statuses:
        return "—"
    if kind == "competitive":
        outcome = "does not hold" if "reversed" in statuses else "not contradicted"
    else:
        outcome = ("does not hold" if "reversed" in statuses else
                   "confirmed" if all(s == "in order" for s in statuses) else "not contradicted")
    return f"**{outcome}** ({'; '.join(parts)})"


def _claims_table(d, epoch, orders):
    from ..report import markdown_table

    threshold = PUBLISHED["claims"]["accuracy_at_least"]
    rows = []
    for text, kind, pairs in _CLAIMS:
        if kind == "level":
            cells = []
            for mode, akey, _ in MODES:
                values = [v for rs in d.ok.values() for v in values_at(rs, akey, epoch) if v is not None]
                above = sum(v >= threshold for v in values)
                outcome = "holds in every run" if above == len(values) else f"holds in {above} of {len(values)} runs"
                cells.append(f"**{outcome}** (lowest {min(values):.4f})")
            rows.append([text, "accuracy", f"every run's accuracy at epoch {epoch} is at least {threshold}", *cells])
            continue
        for metric, higher in (("accuracy", True), ("loss", False)):
            cells = []
            for mode, akey, lkey in MODES:
                key = akey if higher else lkey
                samples = {n: values_at(rs, key, epoch) for n, rs in d.ok.items()}
                ps = _claim_pairs(kind, pairs, samples, higher)
                cells.append(_claim_cell(kind, ps, orders[mode, metric], metric))
            read = {"better": "the first significantly better than each of the others",
                    "best": "the better of the two SGD series (by mean, in each measurement) significantly better "
                            "than each non-SGD optimizer",
                    "competitive": "NaSGD not significantly worse than any of them"}[kind]
            rows.append([text, metric, read, *cells])
    header = ["the paper's statement", "metric", "read as (Welch, Holm over the 15 pairs of the metric)"] + [
        _MODE_TITLE[m] for m, _, _ in MODES]
    return markdown_table(header, rows)


def _decide_figures(d, epoch, out_dir):
    """Two figures (accuracy, loss), one panel per measurement, zoomed on the band that decides the ranking."""
    from matplotlib.figure import Figure

    from .. import plotting
    from ..report import link

    colors = dict(zip(_SERIES, ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown")))
    paper = {"accuracy": dict(PUBLISHED["accuracy"]), "loss": dict(PUBLISHED["loss"])}
    names = [n for n in _SERIES if n in d.ok]
    runs = min(len(rs) for rs in d.ok.values())
    files = []
    for metric, column in (("accuracy", 1), ("loss", 2)):
        fig = Figure(figsize=(15, 4.8))
        axes = fig.subplots(1, 3)
        for ax, (mode, akey, lkey) in zip(axes, MODES):
            key = akey if column == 1 else lkey
            lo_band, hi_band = [], []
            start = max(1, epoch // 4)                 # the band the ranking is decided in: after the first quarter
            x = np.arange(1, epoch + 1)
            for n in names:
                curves = np.array([[np.nan if v is None else v for v in r[key][1:epoch + 1]] for r in d.ok[n]],
                                  dtype=float)
                mean, se = verdict.mean_se(curves, axis=0)
                se = np.nan_to_num(se)          # one run: no band
                ax.plot(x, mean, color=colors[n], lw=1.3, label=label(n))
                ax.fill_between(x, mean - se, mean + se, color=colors[n], alpha=0.25, linewidth=0)
                lo_band.append(np.nanmin((mean - se)[start - 1:]))
                hi_band.append(np.nanmax((mean + se)[start - 1:]))
            lo, hi = min(lo_band), max(hi_band)
            plo, phi = min(paper[metric].values()), max(paper[metric].values())
            if max(hi, phi) - min(lo, plo) <= 1.5 * (hi - lo):      # the paper's levels fit without squeezing
                lo, hi = min(lo, plo), max(hi, phi)
            else:
                where = "below" if phi < lo else "above" if plo > hi else "partly outside"
                ax.text(0.02, 0.02 if where == "below" else 0.95, f"paper's 200-epoch values "
                        f"{plo:.4g}-{phi:.4g}: {where} this view", transform=ax.transAxes, fontsize=8,
                        va="bottom" if where == "below" else "top")
            pad = 0.06 * (hi - lo)
            ax.set_ylim(lo - pad, hi + pad)
            for n in names:
                ax.axhline(paper[metric][n], color=colors[n], ls="--", lw=0.9)
            ax.set_xlim(start, epoch)
            ax.set_title(_MODE_TITLE[mode], fontsize=10)
            ax.set_xlabel("epoch")
            ax.set_ylabel(f"{'test' if mode != 'running training minibatches' else 'training'} {metric}")
            ax.grid(alpha=0.3)
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=6, fontsize=9, frameon=False)
        fig.suptitle(f"Deciding runs: {metric} per epoch, mean of {runs} runs per optimizer (band: ± 1 standard "
                     "error; dashed: the paper's 200-epoch value, same colour)", fontsize=11)
        fig.subplots_adjust(left=0.05, right=0.99, top=0.86, bottom=0.2, wspace=0.25)
        fname = f"fig8_decide_{metric}.png"
        plotting.save(fig, os.path.join(out_dir, fname), dpi=100, bbox_inches=None)
        files.append(f"![Figure 8, deciding runs: {metric} in three measurements]({link(out_dir, fname)})")
    return files


def _settings_table(d):
    from ..report import markdown_table

    every = [r for rs in d.runs.values() for r in rs]
    c = CONFIGS[d.prefix + next(iter(_SERIES))]
    counts = sorted({(r.get("n_train") or 0, r.get("n_test") or 0) for r in every})
    sources = sorted({str(r.get("dataset")).split(" (")[0] for r in every})
    rows = [
        ["data", f"{data_phrase(every)}",
         "every stored run records how many images it trained and was tested on ("
         + "; ".join(f"{a:,} / {b:,}" for a, b in counts) + f") and its data set ({', '.join(sources)}: the "
         "files `load_mnist` found, which it accepts only with the official sha256)"],
        ["minibatch", f"{c['batch_size']} images, {FULL_TRAIN // c['batch_size']:,} steps per epoch", "the paper"],
        ["epochs", f"{d.epochs} (the paper: {LONG_EPOCHS})", f"`{d.target}`"],
        ["dropout", "rate 0.5: whole channels after the second convolution (Dropout2d), single units after the "
                    "50-unit dense layer", "the paper names the layers, not the rate; 0.5 is PyTorch's example's"],
        ["shuffling", "a new random order of the training images every epoch", "not stated in the paper; the "
                                                                                "frameworks' default"],
        ["learning rate", "constant: no schedule", "the paper mentions none"],
        ["weight decay", "none", "the paper mentions none"],
        ["precision", "float32", "the frameworks' default"],
        ["seeds", "each run has its own seed (initial weights, dropout masks, order), from the config and its index; "
                  "seeds are not paired across optimizers", "so the pair tests are unpaired (Welch's t-test)"],
        ["measurements", "after every epoch: the test set in eval mode, the test set with dropout on (its own mask "
                         "stream), and the running accuracy and loss of the epoch's training minibatches",
         "the paper does not say which it reports"],
    ]
    return markdown_table(["setting", "our runs", "source"], rows)


def _report_decide(runs, out_dir):
    """The deciding runs: mean ± SE in every measurement; the ranking at 50, 100, 200 epochs; claims; figures."""
    from ..report import link, markdown_table, write_csv

    decide, long = deciding(runs, "decide_"), deciding(runs, "decide200_")
    chosen = long if long.complete else decide if decide.complete else None
    shown = chosen or (decide if any(decide.runs.values()) else long)
    ok = shown.ok
    lines = ["### The deciding runs: Table 3 in every measurement\n"]
    if not ok:
        lines.append(f"Every stored run of `{shown.target}` diverged.\n")
        return "\n".join(lines)
    epoch = chosen.epochs if chosen else shown.last_epoch
    stats = {n: {key: verdict.mean_se(values_at(rs, key, epoch)) for key, _ in _METRIC_COLUMNS} for n, rs in ok.items()}
    trend = {n: trend_slope(rs, "test_accuracy", epoch) for n, rs in ok.items()} if epoch >= 2 else {}
    rows, csv_rows = [], []
    for n in [m for m in _SERIES if m in ok]:
        rows.append([label(n), f"{len(ok[n])} of {shown.expected[n]}"]
                    + [_pm(*stats[n][key]) for key, _ in _METRIC_COLUMNS] + ([f"{trend[n]:+.4f}"] if trend else []))
        csv_rows.append([n, len(ok[n]), epoch] + [v for key, _ in _METRIC_COLUMNS for v in stats[n][key]]
                        + [trend.get(n)])
    write_csv(os.path.join(out_dir, "table3_decide.csv"), ["config", "runs", "epoch"]
              + [f"{key}_{s}" for key, _ in _METRIC_COLUMNS for s in ("mean", "se")]
              + [f"test_accuracy_per_10_epochs_last_{TREND_EPOCHS}"], csv_rows)
    diverged = "".join(f" {label(n)}: {k} run(s) diverged, left out." for n, k in shown.diverged.items() if k)
    lines += [
        f"`{shown.target}`: the paper's six optimizers in the base setting. Data: "
        f"{data_phrase([r for rs in ok.values() for r in rs])}. "
        f"After epoch {epoch} of the configuration's {shown.epochs}. Mean ± standard error over runs (not over "
        "paired seeds: each run has its own)"
        + (f"; last column: slope of the mean eval-mode test accuracy over the last {TREND_EPOCHS} epochs, per 10 "
           "epochs" if trend else "") + f".{diverged}\n",
        markdown_table(["optimizer", "runs"] + [t for _, t in _METRIC_COLUMNS]
                       + ([f"test acc. (eval) per 10 epochs, last {TREND_EPOCHS}"] if trend else []), rows),
        f"\nCSV: {link(out_dir, 'table3_decide.csv')}.\n",
    ]
    if chosen is None:                  # no verdict: the findings above say why, once
        return "\n".join(lines) + "\n"

    # the ranking at 50, 100 and 200 epochs, side by side
    columns = []
    for e in RANKING_EPOCHS:
        if long.complete:
            columns.append((e, orderings(long, e), f"`mnist_decide200`, {long.stored} runs"))
        elif e == DECIDE_EPOCHS:
            columns.append((e, orderings(decide, e), f"`mnist_decide`, {decide.stored} runs"))
        else:
            columns.append((e, None, f"in progress: {long.stored} of {long.total} runs stored"))
    rows = []
    for mode, _, _ in MODES:
        for metric in ("accuracy", "loss"):
            rows.append([_MODE_TITLE[mode], metric]
                        + [short_outcome(o[mode, metric]) if o else note for _, o, note in columns])
    header = ["measurement", "ranking by"] + [f"{e} epochs ({note})" if o else f"{e} epochs" for e, o, note in columns]
    orders = orderings(chosen, epoch)
    pair_rows, sig_rows = [], []
    for e, o, _ in columns:
        for (mode, metric), ordering in (o or {}).items():
            for p in ordering.pairs:
                pair_rows.append([e, mode, metric, p.better, p.worse, p.difference, p.se, p.t, p.df, p.p, p.p_holm,
                                  p.status])
    for mode, _, _ in MODES:
        for metric in ("accuracy", "loss"):
            o = orders[mode, metric]
            sig_rows.append([_MODE_TITLE[mode], metric, " > ".join(label(n) for n in o.observed)] + [
                "; ".join(f"{label(p.better)} > {label(p.worse)} ({p.difference:+.4f}, {holm(p.p_holm)})"
                          for p in o.by_status("in order")) or "none",
                "; ".join(f"{label(p.worse)} > {label(p.better)} ({-p.difference:+.4f}, {holm(p.p_holm)})"
                          for p in o.by_status("reversed")) or "none"])
    write_csv(os.path.join(out_dir, "decide_pairs.csv"), ["epoch", "measurement", "metric", "paper_better",
              "paper_worse", "difference", "se", "t", "df", "p", "p_holm", "status"], pair_rows)
    lines += [
        "\n### The paper's ranking at 50, 100 and 200 epochs\n",
        f"For each measurement and metric, the paper's order of the six optimizers tested pair by pair: {TEST}. "
        "Each cell: the outcome (confirmed: every neighbouring pair of the paper's order significantly in that "
        "order; not contradicted: no pair significantly reversed; does not hold: some pair significantly "
        "reversed), how many of the 15 pairs are significantly reversed or in order, and Kendall's τ between "
        "our order of the means and the paper's. Scale: "
        f"{chosen.scale(epoch)}; the paper: 20 runs x 200 epochs.\n",
        markdown_table(header, rows),
        f"\nOur order of the means at epoch {epoch}, and the pairs Holm's correction separates (differences in "
        "the metric's better direction). The paper's orders: by accuracy "
        + " > ".join(label(n) for n, _ in PUBLISHED["accuracy"]) + "; by loss "
        + " > ".join(label(n) for n, _ in PUBLISHED["loss"]) + ".\n",
        markdown_table(["measurement", "metric", "our order of the means", "separated, in the paper's order",
                        "separated, against the paper's order"], sig_rows),
        f"\nEvery pair with its Welch statistic, degrees of freedom and raw and Holm p-values: "
        f"{link(out_dir, 'decide_pairs.csv')}.\n",
        "\n### The paper's section-4 statements beside our measurements\n",
        f"At epoch {epoch} ({chosen.scale(epoch)}); differences are in the direction the paper states (positive: "
        "as it says), each tested within its metric's family of 15 pairs as above.\n",
        _claims_table(chosen, epoch, orders),
        "\n### Figure 8 for the deciding runs\n",
        "Each panel is zoomed on the epochs and values where the ranking is decided (after the first quarter "
        "of the epochs), with ± 1 standard-error bands and the paper's 200-epoch values as dashed lines in each "
        "optimizer's colour.\n",
        *_decide_figures(chosen, epoch, out_dir),
        "\n### Settings of the deciding runs\n",
        _settings_table(chosen),
    ]
    return "\n".join(lines) + "\n"


def _report_paper(runs, out_dir):
    """Write Table 3 (both orderings, beside the paper's) and Figure 8 (mean curves with min-max bands).

    Parameters
    ----------
    runs : dict
        ``{config_name: [result of run, ...]}``.
    out_dir : str
        Folder for ``table3.md``, ``table3.csv``, ``fig8_accuracy.png`` and ``fig8_loss.png``.

    Returns
    -------
    str
        The section's Markdown.
    """
    from .. import plotting
    from ..report import link, markdown_table, vs_paper, write_csv, write_text

    os.makedirs(out_dir, exist_ok=True)
    labels = PUBLISHED["labels"]
    paper_acc, paper_loss = dict(PUBLISHED["accuracy"]), dict(PUBLISHED["loss"])
    rank_acc = {n: i + 1 for i, (n, _) in enumerate(PUBLISHED["accuracy"])}
    rank_loss = {n: i + 1 for i, (n, _) in enumerate(PUBLISHED["loss"])}
    summary = {}
    for name, rs in runs.items():
        if not rs:
            continue
        summary[name] = {
            "acc": float(np.mean([r["final_accuracy"] for r in rs])),
            "acc_sd": _sample_sd([r["final_accuracy"] for r in rs]),
            "loss": float(np.mean([r["final_loss"] for r in rs])),
            "loss_sd": _sample_sd([r["final_loss"] for r in rs]),
            "epochs": rs[0]["epoch"][-1], "runs": len(rs),
            "datasets": sorted({r["dataset"] for r in rs}),
        }
    datasets = sorted({d for s in summary.values() for d in s["datasets"]})
    by_acc = sorted(summary, key=lambda n: -summary[n]["acc"])
    by_loss = sorted(summary, key=lambda n: summary[n]["loss"])
    rows = []
    for i in range(len(summary)):
        a, b = by_acc[i], by_loss[i]
        rows.append([labels.get(a, a), vs_paper(summary[a]["acc"], paper_acc.get(a)), rank_acc.get(a),
                     labels.get(b, b), vs_paper(summary[b]["loss"], paper_loss.get(b)), rank_loss.get(b)])
    header = ["optimizer", "test accuracy (higher better)", "paper rank", "optimizer", "test loss (lower better)",
              "paper rank"]
    table = markdown_table(header, rows)
    csv_rows = [[n, labels.get(n, n), s["runs"], s["epochs"], s["acc"], s["acc_sd"], paper_acc.get(n),
                 s["loss"], s["loss_sd"], paper_loss.get(n), "; ".join(s["datasets"])] for n, s in summary.items()]
    write_csv(os.path.join(out_dir, "table3.csv"), ["config", "optimizer", "runs", "epochs", "accuracy",
              "accuracy_sd", "paper_accuracy", "loss", "loss_sd", "paper_loss", "dataset"], csv_rows)
    paper_rows = [[labels[a], pa, labels[b], pb] for (a, pa), (b, pb) in zip(PUBLISHED["accuracy"],
                                                                           PUBLISHED["loss"])]
    paper_table = markdown_table(["optimizer", "accuracy", "optimizer", "loss"], paper_rows)
    write_text(os.path.join(out_dir, "table3.md"), table)

    n_epochs = sorted({s["epochs"] for s in summary.values()})
    n_runs = sorted({s["runs"] for s in summary.values()})
    every = [r for rs in runs.values() for r in rs]
    comparable = all(full_mnist(r) for r in every) and n_epochs == [200]
    where = "; ".join(sorted({"full MNIST" if full_mnist(r) else "MNIST sample" if "sample" in str(r.get("dataset"))
                              else str(r.get("dataset")) for r in every}))
    figures = []
    for key, ylabel, logy, fname in (("test_accuracy", "test accuracy", False, "fig8_accuracy.png"),
                                     ("test_loss", "test loss", True, "fig8_loss.png")):
        series, bands = {}, {}
        for name, rs in runs.items():
            if not rs:
                continue
            mean, lo, hi = _stats([{key: r[key][1:]} for r in rs], key)  # epochs 1.. (epoch 0 is untrained)
            x = rs[0]["epoch"][1:]
            series[labels.get(name, name)] = (x, mean)
            bands[labels.get(name, name)] = (lo, hi)
        if series and len(next(iter(series.values()))[0]) >= 2:      # a curve needs two epochs
            plotting.curves(series, os.path.join(out_dir, fname), "epoch", ylabel, logy=logy,
                            title=("MNIST" if comparable
                                   else f"Short run: {where}, {'/'.join(map(str, n_epochs))} epochs")
                            + f": {ylabel}, mean over runs (band: min-max)", bands=bands)
            figures.append(f"![Figure 8: {ylabel}]({link(out_dir, fname)})")

    lines = [
        "### Table 3: test accuracy and loss after training, mean over runs\n",
        f"Data: {'; '.join(datasets)}. Epochs: {', '.join(map(str, n_epochs))}; runs per optimizer: "
        f"{', '.join(map(str, n_runs))}; minibatch 60, float32. Each cell: ours (paper, relative difference).\n",
        "" if comparable else "**Not comparable to the paper**: these runs use fewer images and/or epochs "
        "than the paper's 60,000 images and 200 epochs; no conclusion on the paper's numbers or ranking is "
        "drawn from them.\n",
        table,
        "\nThe paper's Table 3 (20 runs x 200 epochs on full MNIST):\n",
        paper_table,
        f"\nOur numbers: {link(out_dir, 'table3.csv')}.\n",
        "\n### Figure 8: test accuracy and test loss per epoch\n",
        ("" if comparable else f"A short run, not comparable to the paper's 20 runs x 200 epochs on full MNIST: "
         f"{'/'.join(map(str, n_runs))} run(s) x {'/'.join(map(str, n_epochs))} epoch(s) per optimizer on "
         f"{data_phrase(every)}.\n"),
        ("\n".join(figures) + "\n") if figures else "No figure: the runs have fewer than two epochs.\n",
    ]
    return "\n".join(line for line in lines if line is not None)
