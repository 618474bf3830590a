"""Figures 4-7, the claims table, the decay fits and the section's report."""
import math
import os

import numpy as np

from .. import published, verdict
from ..plotting import save
from .configs import (ABLATION_INITS, ABLATION_LOSSES, ADAPTIVE_NAMES, CONFIGS, FIT_WINDOWS, MOMENTA,
                      STEPS_PER_EPOCH, TARGETS)

PUBLISHED = published.LAYER_MATCHING

__all__ = ["report"]


def _curves(results, label, key):
    """(n_runs, n_points) float array of one series' curve over the runs (None -> NaN)."""
    return np.array([r["series"][label][key] for r in results], dtype=float)


def _mean(results, label, key):
    c = _curves(results, label, key)
    return np.nanmean(c, axis=0) if np.isfinite(c).any() else np.full(c.shape[1], np.nan)


def _log_mean_distance(results, label):
    """log10 of the mean (over runs) test distance at each recorded step."""
    with np.errstate(divide="ignore"):
        return np.log10(_mean(results, label, "distance"))


def _band(results, label, key):
    """(mean - SE, mean + SE) over the runs at each point (`verdict.mean_se`); NaN-free runs only."""
    mean, se = verdict.mean_se(_curves(results, label, key), axis=0)
    se = np.nan_to_num(se)              # fewer than two runs at a point: no band
    return mean - se, mean + se


def _log_band(results, label, key):
    """log10 of `_band`, the lower edge clipped to a tenth of the mean where mean - SE <= 0."""
    lo, hi = _band(results, label, key)
    mean = 0.5 * (lo + hi)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log10(np.where(lo > 0, lo, 0.1 * mean)), np.log10(hi)


def _labels(results):
    return list(results[0]["series"]) if results else []


def _steps(results):
    return np.asarray(results[0]["steps"])


def _final(results, label):
    return float(_log_mean_distance(results, label)[-1])


def _at_step(results, label, step):
    """log10 mean distance at the recorded step closest to `step` (not beyond the end)."""
    steps = _steps(results)
    k = int(np.argmin(np.abs(steps - min(step, steps[-1]))))
    return float(_log_mean_distance(results, label)[k])


def _figure(ncols, nrows=1, width=4.2, height=3.4):
    from matplotlib.figure import Figure   # no pyplot: no global state, no backend needed
    fig = Figure(figsize=(width * ncols, height * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    fig.subplots_adjust(left=0.85 / (width * ncols), right=1 - 0.15 / (width * ncols), bottom=0.15, top=0.9,
                        wspace=0.38)
    return fig, axes.ravel()


def _plot_distance(ax, results, labels, title, cmap="viridis", max_step=None, colors=None, legend=True):
    from matplotlib import colormaps
    steps = _steps(results)
    keep = steps <= (max_step if max_step is not None else steps[-1])
    if colors is None:
        colors = colormaps[cmap](np.linspace(0.0, 0.9, max(len(labels), 1)))
    for color, label in zip(colors, labels):
        ax.plot(steps[keep], _log_mean_distance(results, label)[keep], color=color, lw=1.2, label=label)
        lo, hi = _log_band(results, label, "distance")
        ax.fill_between(steps[keep], lo[keep], hi[keep], color=color, alpha=0.15, linewidth=0)
    ax.set_title(title)
    ax.set_xlabel("training step")
    ax.set_ylabel("log10 mean test distance")
    ax.grid(alpha=0.3)
    if legend:
        ax.legend(fontsize=7)


def _block_steps(results):
    """Step at the end of each lr/alpha block."""
    return _steps(results)[1:]


TAIL_FRACTION = 0.2
"""The window "at the end of training" of the equivalent-alpha claims: the last 20 % of the blocks."""


def _tail(values):
    """The last `TAIL_FRACTION` of a per-block curve (at least one block), and how many blocks that is."""
    k = max(1, int(round(TAIL_FRACTION * len(values))))
    return values[-k:], k


def _fig4(runs, out_dir):
    names = [n for n in TARGETS["fig4"] if n in runs]
    if not names:
        return None
    fig, axes = _figure(len(names))
    for ax, name in zip(axes, names):
        mu = MOMENTA[name.split("_", 1)[1]]
        _plot_distance(ax, runs[name], _labels(runs[name]), f"SGD, momentum mu = {mu:g}")
    save(fig, os.path.join(out_dir, "fig4.png"), dpi=110, bbox_inches=None)
    return "fig4.png"


def _fig5(runs, out_dir):
    panels = []
    if "fig5_baselines" in runs:
        res = runs["fig5_baselines"]
        for name in ADAPTIVE_NAMES.values():
            labels = [lab for lab in _labels(res) if lab.startswith(name + " ")]
            panels.append((res, labels, name, "viridis"))
    if "fig5_nasgd" in runs:
        res = runs["fig5_nasgd"]
        panels.append((res, _labels(res), "NaSGD (float32)", "turbo"))
    if not panels:
        return None
    fig, axes = _figure(len(panels))
    for ax, (res, labels, title, cmap) in zip(axes, panels):
        many = len(labels) > 10          # NaSGD's 20 alphas: a colour bar, not a legend of 20 entries
        _plot_distance(ax, res, labels, title, cmap, legend=not many)
        if many:
            from matplotlib import colormaps
            from matplotlib.cm import ScalarMappable
            from matplotlib.colors import BoundaryNorm, ListedColormap
            alphas = [float(lab.split("=")[1]) for lab in labels]
            colors = colormaps[cmap](np.linspace(0.0, 0.9, len(labels)))
            edges = np.concatenate([[alphas[0] - 0.05], np.add(alphas[:-1], alphas[1:]) / 2, [alphas[-1] + 0.05]])
            bar = ax.figure.colorbar(ScalarMappable(BoundaryNorm(edges, len(labels)), ListedColormap(colors)),
                                     ax=ax, pad=0.02, fraction=0.06)
            bar.set_ticks(alphas[::2 if len(alphas) > 12 else 1])
            bar.set_label("NaSGD alpha", fontsize=8)
            bar.ax.tick_params(labelsize=7)
            title = "NaSGD, float32"
            if "fig5_nasgd_float64" in runs:      # where float32 stops: the same alphas in float64
                res64 = runs["fig5_nasgd_float64"]
                for lab in _labels(res64):
                    ax.plot(_steps(res64), _log_mean_distance(res64, lab), "k--", lw=0.8)
                title += "\n(black dashed: alpha = " + ", ".join(lab.split("=")[1] for lab in _labels(res64)) \
                    + " in float64)"
            ax.set_title(title, fontsize=9)
    save(fig, os.path.join(out_dir, "fig5.png"), dpi=110, bbox_inches="tight")   # keeps the colour bar's labels
    return "fig5.png"


def _fig6(runs, out_dir):
    if "fig5_nasgd" not in runs or "fig4_mu0" not in runs:
        return None
    from matplotlib import colormaps
    nasgd, sgd = runs["fig5_nasgd"], runs["fig4_mu0"]
    fig, axes = _figure(3)
    bsteps = _block_steps(nasgd)
    labels = [lab for lab in _labels(nasgd) if float(lab.split("=")[1]) in (0.1, 0.3, 0.5, 0.7, 1.0, 1.5, 1.8)]
    colors = colormaps["turbo"](np.linspace(0.0, 0.9, len(labels)))
    for color, label in zip(colors, labels):
        axes[0].semilogy(bsteps, _mean(nasgd, label, "lr"), color=color, lw=1, label=label)
        lo, hi = _band(nasgd, label, "lr")
        axes[0].fill_between(bsteps, np.where(lo > 0, lo, np.nan), hi, color=color, alpha=0.15, linewidth=0)
    axes[0].set_title("NaSGD: mean equivalent lr")
    sgd_labels = _labels(sgd)
    colors = colormaps["viridis"](np.linspace(0.0, 0.9, len(sgd_labels)))
    bsteps = _block_steps(sgd)
    for color, label in zip(colors, sgd_labels):
        axes[1].plot(bsteps, _mean(sgd, label, "alpha"), color=color, lw=1, label=label)
        lo, hi = _band(sgd, label, "alpha")
        axes[1].fill_between(bsteps, lo, hi, color=color, alpha=0.15, linewidth=0)
    axes[1].axhline(2.0, color="k", ls="--", lw=0.8)
    axes[1].set_title("SGD: mean equivalent alpha")
    steps = _steps(sgd)
    for color, label in zip(colors, sgd_labels):
        logd = _log_mean_distance(sgd, label)
        alpha = _mean(sgd, label, "alpha")
        high = np.concatenate([[False], alpha > 2.0])    # the block that ends at each step
        axes[2].scatter(steps[~high], logd[~high], s=3, color=color, label=label)
        axes[2].scatter(steps[high], logd[high], s=3, color=color, alpha=0.08)
    axes[2].set_title("SGD: faded where equivalent alpha > 2")
    axes[2].set_ylabel("log10 mean test distance")
    for ax in axes:
        ax.set_xlabel("training step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    save(fig, os.path.join(out_dir, "fig6.png"), dpi=110, bbox_inches=None)
    return "fig6.png"


def _fig7_steps(runs, max_step=1500):
    """The steps Figure 7 shows: the paper's first 1500, or all of a shorter run."""
    return int(min(max_step, _steps(runs["fig7"])[-1])) if runs.get("fig7") else max_step


def _fig7(runs, out_dir, max_step=1500):
    if "fig7" not in runs:
        return None
    res = runs["fig7"]
    fig, axes = _figure(2)
    labels = _labels(res)
    shown = _fig7_steps(runs, max_step)
    colors = [f"C{i}" for i in range(len(labels))]          # one colour per series, the same in both panels
    _plot_distance(axes[0], res, labels, f"first {shown} steps", colors=colors, max_step=shown)
    bsteps = _block_steps(res)
    keep = bsteps <= shown
    for color, label in zip(colors, labels):
        axes[1].semilogy(bsteps[keep], _mean(res, label, "lr")[keep], color=color, lw=1, label=label)
        lo, hi = _band(res, label, "lr")
        axes[1].fill_between(bsteps[keep], np.where(lo > 0, lo, np.nan)[keep], hi[keep], color=color,
                             alpha=0.15, linewidth=0)
    axes[1].set_title(f"mean (equivalent) lr, first {shown} steps")
    axes[1].set_xlabel("training step")
    axes[1].grid(alpha=0.3)
    axes[1].legend(fontsize=7)
    save(fig, os.path.join(out_dir, "fig7.png"), dpi=110, bbox_inches=None)
    return "fig7.png"


def _progress_by_alpha(results, label):
    """Mean change of log10 distance per block in blocks with equivalent alpha <= 2 and > 2."""
    logd = _log_mean_distance(results, label)
    alpha = _mean(results, label, "alpha")
    change = np.diff(logd)
    low, high = alpha <= 2.0, alpha > 2.0
    return (float(change[low].mean()) if low.any() else math.nan,
            float(change[high].mean()) if high.any() else math.nan, int(high.sum()), len(alpha))


def _claims(runs):
    """Rows (claim, paper, measured, verdict) for the statements of section 3 we can check."""
    C = PUBLISHED["claims"]
    rows = []
    baselines = [(name, lab) for name in TARGETS["fig4"] + ["fig5_baselines"] if name in runs
                 for lab in _labels(runs[name])]
    nasgd = runs.get("fig5_nasgd")
    alpha_of = {lab: float(lab.split("=")[1]) for lab in _labels(nasgd)} if nasgd else {}
    if baselines:
        finals = {f"{n}/{lab}": _final(runs[n], lab) for n, lab in baselines}
        lows = {f"{n}/{lab}": float(np.nanmin(_log_mean_distance(runs[n], lab))) for n, lab in baselines}
        best = min(lows, key=lows.get)
        rows.append([C["baselines_floor"]["text"], "all baselines >= 1e-3",
                     f"lowest mean distance of {len(baselines)} baseline series: 10^{lows[best]:.2f} ({best}); "
                     f"final values 10^{min(finals.values()):.2f} .. 10^{max(finals.values()):.2f}",
                     "holds" if lows[best] >= -3.0 else "does not hold"])
    if nasgd:
        good = [lab for lab, a in alpha_of.items() if 0.5 <= a <= 1.5]
        finals = {lab: _final(nasgd, lab) for lab in good}
        window = int(min(10 * STEPS_PER_EPOCH, _steps(nasgd)[-1]))     # the last 10 epochs, or a short run's all
        last10 = {lab: _final(nasgd, lab) - _at_step(nasgd, lab, _steps(nasgd)[-1] - window) for lab in good}
        settled = [lab for lab in good if abs(last10[lab]) < 0.3]
        near = [lab for lab in settled if -8.0 <= finals[lab] <= -6.0]
        f64 = ""
        if "fig5_nasgd_float64" in runs:
            res64 = runs["fig5_nasgd_float64"]
            f64 = "; in float64 (no 1e-7 floor): " + ", ".join(f"{lab}: 10^{_final(res64, lab):.2f}"
                                                             for lab in _labels(res64))
        falling = [lab for lab in good if lab not in settled]
        rows.append([C["nasgd_good"]["text"], "below 1e-3; settles near 1e-7",
                     f"final 10^{min(finals.values()):.2f} .. 10^{max(finals.values()):.2f}; settled (last "
                     f"{window // STEPS_PER_EPOCH} epochs "
                     f"within 0.3 decades) near 1e-7 (1e-8..1e-6): {', '.join(near) or 'none'}; still falling at "
                     f"the end: {', '.join(falling) or 'none'}{f64}",
                     "holds" if max(finals.values()) < -3.0 and len(near) == len(good) else
                     f"partly ({len(near)} of {len(good)} alphas settle near 1e-7)"
                     if max(finals.values()) < -3.0 else "does not hold"])
        small = [lab for lab, a in alpha_of.items() if 0.1 <= a <= 0.3]
        if baselines:
            best_final = min(finals_b := {f"{n}/{lab}": _final(runs[n], lab) for n, lab in baselines}.values())
            worst_final = max(finals_b)
            vals = {lab: _final(nasgd, lab) for lab in small}
            within = [lab for lab, v in vals.items() if best_final - 1.0 <= v <= worst_final]
            rows.append([C["nasgd_small"]["text"], "comparable to the baselines",
                         "final " + ", ".join(f"{lab}: 10^{v:.2f}" for lab, v in vals.items())
                         + f" vs baselines 10^{best_final:.2f} .. 10^{worst_final:.2f}",
                         "holds" if len(within) == len(vals) else f"partly (within a decade of the best "
                                                                   f"baseline: {', '.join(within) or 'none'})"])
        large = [lab for lab, a in alpha_of.items() if a >= C["nasgd_large"]["alpha_min"] - 1e-9]
        gains = {lab: _log_mean_distance(nasgd, lab)[0] - _final(nasgd, lab) for lab in large}
        rows.append([C["nasgd_large"]["text"], "no progress",
                     "decades gained: " + ", ".join(f"{lab}: {v:.2f}" for lab, v in gains.items()),
                     "holds" if all(v < 0.5 for v in gains.values()) else "does not hold"])
        lab = "alpha=0.7" if "alpha=0.7" in alpha_of else next(iter(alpha_of))
        lr = _mean(nasgd, lab, "lr")
        falls = lr[-1] < 1e-6 * np.nanmax(lr)
        starts_near_1 = 0.3 <= lr[0] <= 3.0
        rows.append([C["nasgd_equivalent_lr"]["text"], "1 -> 1e-8",
                     f"{lab}: first block {lr[0]:.2g}, max {np.nanmax(lr):.2g}, last block {lr[-1]:.2g} "
                     f"({math.log10(np.nanmax(lr) / max(lr[-1], 1e-300)):.1f} decades of fall)",
                     "holds" if falls and starts_near_1 else
                     f"partly (falls by over 6 decades, but starts at {lr[0]:.2g}, not 1)" if falls
                     else "does not hold"])
    if "fig4_mu0" in runs:
        sgd = runs["fig4_mu0"]
        last = {lab: float(np.nanmean(_tail(_mean(sgd, lab, "alpha"))[0])) for lab in _labels(sgd)}
        blocks = _tail(_mean(sgd, _labels(sgd)[0], "alpha"))[1]
        rows.append([C["sgd_equivalent_alpha"]["text"], "settles above 2",
                     f"mean over the last {100 * TAIL_FRACTION:.0f} % of steps (the last {blocks} of "
                     f"{len(_block_steps(sgd))} blocks): " + ", ".join(f"{k}: {v:.2f}" for k, v in last.items()),
                     "holds" if all(v > 2.0 for v in last.values()) else
                     f"holds for {sum(v > 2.0 for v in last.values())} of {len(last)} lrs"])
        prog = {lab: _progress_by_alpha(sgd, lab) for lab in _labels(sgd)}
        low = np.nanmean([p[0] for p in prog.values()])
        high = np.nanmean([p[1] for p in prog.values()])
        rows.append([C["sgd_progress_rule"]["text"], "progress iff alpha < 2",
                     f"mean change of log10 distance per block: {low:+.4f} (alpha <= 2), {high:+.4f} (alpha > 2)",
                     "holds" if low < 0 and abs(high) < 0.25 * abs(low) else "does not hold"])
    if "fig7" in runs:
        res = runs["fig7"]
        at = {lab: _at_step(res, lab, 1500) for lab in _labels(res)}
        decays = [lab for lab in FIT_WINDOWS if lab in at]
        rows.append([C["decay_schedules"]["text"], "worse than gna070",
                     "at step 1500: " + ", ".join(f"{lab}: 10^{at[lab]:.2f}" for lab in at),
                     "holds" if all(at[d] > at["gna070"] + 0.5 for d in decays) else "does not hold"])
        base_1500 = [_at_step(runs[n], lab, 1500) for n, lab in baselines] if baselines else []
        best_base = min(base_1500) if base_1500 else math.nan
        rows.append([C["alpha100"]["text"], "about 1e-3 at step 1500, better than the baselines",
                     f"alpha100 at step 1500: 10^{at['alpha100']:.2f}, final 10^{_final(res, 'alpha100'):.2f}; "
                     f"best baseline at step 1500: 10^{best_base:.2f}",
                     "holds" if at["alpha100"] <= -2.5 and not at["alpha100"] > best_base else "does not hold"])
    fits = _fit_rows(runs)
    if fits:
        pairs = [(r[0], r[2], r[5]) for r in fits]          # name, the name's rate per epoch, our fitted rate
        match = all(abs(ours - named) <= 0.2 * named for _, named, ours in pairs)
        rows.append(["The three fits are named decay028, decay052, decay090 (read: decay rate 0.28, 0.52, "
                     "0.90 per epoch)", "0.28 / 0.52 / 0.90 per epoch",
                     "fitted: " + " / ".join(f"{ours:.2f}" for _, _, ours in pairs) + " per epoch",
                     "holds" if match else "mismatch (the order agrees: a shorter window, a faster decay)"
                     if [p[2] for p in pairs] == sorted(p[2] for p in pairs) else "mismatch"])
    return rows


def _ablation_rows(runs):
    """One row per (loss, init) of the ablation: the measurements the section's claims rest on."""
    rows = []
    for loss in ABLATION_LOSSES:
        for init in ABLATION_INITS:
            res = runs.get(f"ablation_{loss}_{init}")
            if not res:
                continue
            lr07 = _mean(res, "alpha=0.7", "lr")
            alpha_sgd = float(np.nanmean(_tail(_mean(res, "SGD lr=0.01", "alpha"))[0]))
            large = _final(res, "alpha=1.7")
            fall = math.log10(np.nanmax(lr07) / max(lr07[-1], 1e-300))
            rows.append([loss, init, len(res), f"{_final(res, 'alpha=0.7'):.2f}", f"{large:.2f}",
                         f"{_final(res, 'alpha=2.0'):.2f}", f"{lr07[0]:.2g}", f"{fall:.1f}",
                         f"{alpha_sgd:.2f}", f"{_final(res, 'SGD lr=0.01'):.2f}",
                         "yes" if large > -1.0 else "no", "yes" if alpha_sgd > 2.0 else "no",
                         "yes" if fall > 6 else "no"])
    return rows


def _fit_rows(runs):
    if "fig7" not in runs:
        return []
    res = runs["fig7"]
    rows = []
    for name, steps in FIT_WINDOWS.items():
        if name not in res[0]["series"]:
            continue
        s = res[0]["series"][name]
        paper = int(name[-3:]) / 100
        rows.append([name, steps, paper, s["lr0"], s["rate"], 100 * s["rate"], math.exp(-100 * s["rate"])])
    return rows


def _full_scale(name, config):
    """Whether a run's config is the section's full config (JSON-equal: tuples stored as lists)."""
    from ..runner.keys import canonical
    return name in CONFIGS and canonical(config) == canonical(CONFIGS[name])


def report(runs, out_dir):
    """Write Figures 4-7, the final-distance table, the claims table and the decay fits into out_dir.

    Parameters
    ----------
    runs : dict
        ``{config_name: [runner.Run, ...]}`` of stored runs (any subset of `CONFIGS`); the
        tables state the epochs and dtype of the configs the runs were made with.
    out_dir : str
        Folder for ``fig4.png`` .. ``fig7.png``, ``final_distance.csv``,
        ``claims.md`` and ``decay_fits.csv``.

    Returns
    -------
    str
        The section's Markdown.
    """
    from ..report import link, markdown_table, write_csv, write_text
    os.makedirs(out_dir, exist_ok=True)
    configs = {name: recs[0].config for name, recs in runs.items() if recs}
    runs = {name: [r.result for r in recs] for name, recs in runs.items() if recs}
    parts = ["Task: recover a random dense tanh layer R^10 -> R^4 from 100 samples, minibatch 1, "
             "loss = Euclidean distance of one sample, metric = mean test distance, averaged over the runs "
             "(shaded in the figures: ± 1 standard error of that mean over the runs). "
             "We train on the training half (the paper's text says \"on the test set\"; see "
             "`docs/layer_matching.md`). Parameters in float32, as in the paper's frameworks, "
             "except where noted.\n"]
    figures = [("Figure 4: SGD with momentum", _fig4(runs, out_dir)),
               ("Figure 5: Adam, RMSprop, Adagrad and NaSGD", _fig5(runs, out_dir)),
               ("Figure 6: Rosetta stone", _fig6(runs, out_dir)),
               (f"Figure 7: exponential decay vs alpha monitoring (first {_fig7_steps(runs)} steps)",
                _fig7(runs, out_dir))]
    for title, fname in figures:
        if fname:
            parts.append(f"\n![{title}]({link(out_dir, fname)})\n")

    claims = _claims(runs)
    if claims:
        cut = sorted(name for name, config in configs.items() if not _full_scale(name, config))
        if cut:        # quick or scaled runs: the measurements, and no verdict on the paper's sentences
            claims = [row[:-1] + ["no verdict (cut-down runs)"] for row in claims]
        header = ["paper's statement", "paper", "measured", "verdict"]
        table = markdown_table(header, claims)
        write_text(os.path.join(out_dir, "claims.md"), table)
        note = ("" if not cut else
                f"\nNo verdict is drawn: {len(cut)} of the configs ({', '.join(cut[:4])}"
                f"{', ...' if len(cut) > 4 else ''}) ran cut down (quick mode, or other runs or epochs than "
                "the paper's), so their measurements are not the paper's. `nagd reproduce layer` "
                "runs them at full scale.\n")
        parts.append("\n### The paper's statements beside our measurements\n\n" + table + note)

    fits = _fit_rows(runs)
    if fits:
        header = ["series", "fit window (steps)", "paper's name / 100", "lr0", "rate per step",
                  "rate per epoch", "factor per epoch"]
        write_csv(os.path.join(out_dir, "decay_fits.csv"), header, fits)
        parts.append("\n### Exponential fits to NaSGD(0.7)'s mean equivalent lr (Figure 7)\n\n"
                     "Least squares on log lr; we read the paper's names as the decay rate per epoch "
                     "(lr = lr0 exp(-rate * epoch)).\n\n" + markdown_table(header, fits))

    ablation = _ablation_rows(runs)
    if ablation:
        epochs = sorted({configs[n]["epochs"] for n in TARGETS["ablation"] if n in configs})
        header = ["loss", "init", "runs", "NaSGD(0.7) final", "NaSGD(1.7) final", "NaSGD(2.0) final",
                  "NaSGD(0.7) equiv. lr, first block", "its fall (decades)",
                  f"SGD(0.01) equiv. alpha, last {100 * TAIL_FRACTION:.0f} % of steps",
                  "SGD(0.01) final", "alpha = 1.7 stalls?", "SGD's alpha > 2?", "equiv. lr falls > 6 decades?"]
        write_csv(os.path.join(out_dir, "ablation.csv"), header, ablation)
        parts.append("\n### Which readings the claims depend on: loss x initialisation\n\n"
                     "The same task and seeds with the Euclidean-distance or the MSE loss, and PyTorch's or Keras's "
                     "(Glorot-uniform, zero bias) initialisation of the trained layer; finals are log10 of the mean "
                     f"test distance after {' or '.join(map(str, epochs))} epochs. The paper's observations (NaSGD "
                     "with alpha >= 1.7 stalls, SGD's equivalent alpha settles above 2, NaSGD's equivalent lr falls "
                     "by many decades) are the last three columns.\n\n" + markdown_table(header, ablation))

    rows = []
    for name in CONFIGS:
        if name not in runs or name.startswith("ablation_"):
            continue
        res = runs[name]
        dtype = configs[name].get("dtype", "float64")
        for lab in _labels(res):
            rows.append([name, lab, dtype, configs[name]["epochs"], len(res), _at_step(res, lab, 1500),
                         _final(res, lab), float(np.nanmin(_log_mean_distance(res, lab)))])
    if rows:
        header = ["config", "series", "dtype", "epochs", "runs", "log10 dist @1500", "log10 dist final",
                  "log10 dist best"]
        write_csv(os.path.join(out_dir, "final_distance.csv"), header, rows)
        parts.append("\n### log10 of the mean test distance\n\n" + markdown_table(header, rows))
    return "".join(parts)
