"""Tables 1 and 2 (Markdown, CSV) with their notes, Figures 1-3, and the section's `report`."""
import math
import os

import numpy as np
from scipy import stats

from ... import problems
from .. import report as rep
from .. import verdict
from .configs import PRIMARY, PUBLISHED
from .loops import PRECISIONS
from .measurements import _on_grid, _speed_ratio

__all__ = ["report"]


# ----------------------------------------------------------------------------------------------
# Report


def _label(method, h):
    if isinstance(h, (list, tuple)):
        return f"NaSGD(α ~ U[{h[0]:g}, {h[1]:g}])"
    return f"SGD(η = {h:.7g})" if method == "sgd" else f"NaSGD(α = {h:g})"


def _steps_cells(hits, status):
    """Steps per threshold; None where diverged (up arrow) or not reached."""
    return [math.inf if (v < 0 and status == 2) else (None if v < 0 else v) for v in hits]


def _steps_text(values):
    return " ".join(rep.fmt(math.inf if v is None else v) for v in values)


def _mean_random(runs, dtype):
    trials = [t for r in runs for t in r["trials"]]
    n = len(trials[0][dtype]["hits"]) if trials else 0
    means = []
    for j in range(n):
        vals = [t[dtype]["hits"][j] for t in trials if t[dtype]["hits"][j] > 0]
        means.append(float(np.mean(vals)) if len(vals) == len(trials) else None)
    return means, len(trials)


def _precision_cells(r):
    cells = [_steps_cells(r[p]["hits"], r[p]["status"]) for p in PRECISIONS]
    return [" / ".join(rep.fmt(c[j]) for c in cells) for j in range(len(cells[0]))]


def _table(name, runs, configs, out_dir):
    """Markdown for one table; writes <name>.md, <name>.csv and <name>_dtypes.csv.

    ``runs`` maps config name to its results, ``configs`` to the config they ran with.
    """
    paper = PUBLISHED[name]
    cfg_rows = runs.get(f"{name}_rows")
    if not cfg_rows:
        return ""
    primary = PRIMARY
    others = [p for p in PRECISIONS if p != primary]
    ours = cfg_rows[0]["rows"]
    paper_fixed = [r for r in paper["rows"] if "trials" not in r]
    lines, csv_rows, dtype_rows, notes = [], [], [], []
    base = ours[0]["time"]                      # the paper's best SGD run: the scale
    header = (["row"] + [f"≤ {t:g}" for t in paper["thresholds"]]
              + ["Python ms/run (×)", "Python µs/step (×)", "compiled ms/run (×)", "compiled µs/step (×)",
                 "paper ms/run (×)", "paper µs/step (×)"])

    def time_cells(t, status):
        if status == 2 or t is None:
            return ["—", "—", "—", "—"], [None] * 8
        cells, raw = [], []
        for loop in ("python", "compiled"):
            ms, ms0 = t[f"{loop}_ms"], base[f"{loop}_ms"]
            if ms is None or ms0 is None:
                cells += ["not run", "not run"]
                raw += [None] * 4
                continue
            us = 1e3 * ms / t["steps"]
            us0 = 1e3 * ms0 / base["steps"]
            cells += [f"{rep.fmt(ms)} ({ms / ms0:.2f})", f"{rep.fmt(us)} ({us / us0:.2f})"]
            raw += [ms, ms / ms0, us, us / us0]
        return cells, raw

    def paper_time(p):
        if p["ms_run"][0] is None:
            return ["—", "—"]
        return [f"{p['ms_run'][0]:g} ({p['ms_run'][1]:g})", f"{p['us_step'][0]:g} ({p['us_step'][1]:g})"]

    body = []
    for r, p in zip(ours, paper_fixed):
        label = _label(r["method"], r["h"])
        steps = _steps_cells(r[primary]["hits"], r[primary]["status"])
        cells = [rep.vs_paper(s, math.inf if ps is None else ps) for s, ps in zip(steps, p["steps"])]
        tc, raw = time_cells(r["time"], r[primary]["status"])
        body.append([label] + cells + tc + paper_time(p))
        csv_rows.append([label, "paper row", primary] + steps + list(p["steps"]) + raw)
        match = [s == (math.inf if ps is None else ps) for s, ps in zip(steps, p["steps"])]
        dtype_rows.append([label] + _precision_cells(r)
                          + [" ".join(rep.fmt(math.inf if v is None else v) for v in p["steps"])])
        if r["python"] is None:
            notes.append(f"{label}: the Python loop was not run (quick mode skips runs of more than "
                         f"{configs[name + '_rows']['python_max_steps']} steps).")
        elif r["python"]["hits"] != r["float64"]["hits"]:
            notes.append(f"{label}: the Python loop counted {r['python']['hits']}, the compiled loop "
                         f"{r['float64']['hits']} (float64).")
        if not all(match):
            diffs = [abs(a - b) / b for a, b in zip(steps, p["steps"])
                     if a is not None and b is not None and math.isfinite(a)]
            worst = f" (at most {100 * max(diffs):.2f}% off)" if diffs else ""
            notes.append(f"{label} differs from the paper in {primary}: {_steps_text(steps)} vs "
                         f"{_steps_text(p['steps'])}{worst}; "
                         + "; ".join(f"in {o}: {_steps_text(_steps_cells(r[o]['hits'], r[o]['status']))}"
                                     for o in others) + ".")
    search = runs.get(f"{name}_search")
    if search:
        s = search[0]
        for r in s["rows"]:
            label = _label(r["method"], r["h"]) + " (search)"
            steps = _steps_cells(r[primary]["hits"], r[primary]["status"])
            tc, raw = time_cells(r["time"], r[primary]["status"])
            body.append([label] + [rep.fmt(v) for v in steps] + tc + ["—", "—"])
            csv_rows.append([label, "search", primary] + steps + [None] * 5 + raw)
            dtype_rows.append([label] + _precision_cells(r) + ["—"])
    rnd = runs.get(f"{name}_random")
    prand = next(r for r in paper["rows"] if "trials" in r)
    if rnd:
        label = _label("nagd", prand["h"])
        means, n = _mean_random(rnd, primary)
        cells = [rep.vs_paper(m, p) for m, p in zip(means, prand["steps"])]
        trials = [t for r in rnd for t in r["trials"]]
        timed = [t for t in trials if "python_ms" in t]
        # ms/run = median time per step (robust to a busy machine) times the mean steps of all trials
        steps_mean = float(np.mean([t["float64"]["steps"] for t in trials]))
        py_ms = steps_mean * float(np.median([t["python_ms"] / t["python"]["steps"] for t in timed]))
        c_ms = steps_mean * float(np.median([t["compiled_ms"] / t["float64"]["steps"] for t in trials]))
        tc, raw = time_cells({"python_ms": py_ms, "compiled_ms": c_ms, "steps": steps_mean}, 0)
        notes.append(f"{label}: steps and compiled times over all {n} trials; the Python loop ran the first "
                     f"{len(timed) // len(rnd)} trials of each of the {len(rnd)} runs ({len(timed)} trials, "
                     f"same steps as the compiled loop: {all(t['python']['hits'] == t['float64']['hits'] for t in timed)}"
                     f"); ms/run is the median time per step times the mean steps of all trials.")
        body.append([f"{label}, {n} trials"] + cells + tc + paper_time(prand))
        csv_rows.append([label, f"random ({n} trials)", primary] + means + list(prand["steps"]) + raw)
        means_by = [_mean_random(rnd, prec)[0] for prec in PRECISIONS]
        dtype_rows.append([label] + [" / ".join(rep.fmt(m[j]) for m in means_by) for j in range(len(means_by[0]))]
                          + [" ".join(f"{v:g}" for v in prand["steps"])])
        if n != prand["trials"]:
            notes.append(f"The random row averages {n} trials (the paper: {prand['trials']}).")
    table_md = rep.markdown_table(header, body)
    dtype_md = rep.markdown_table(["row"] + [f"≤ {t:g}" for t in paper["thresholds"]] + ["paper"], dtype_rows)
    rep.write_text(f"{out_dir}/{name}.md", table_md)
    rep.write_csv(f"{out_dir}/{name}.csv",
                  ["row", "kind", "dtype"] + [f"steps_{t:g}" for t in paper["thresholds"]]
                  + [f"paper_steps_{t:g}" for t in paper["thresholds"]]
                  + ["python_ms", "python_ms_scaled", "python_us_step", "python_us_step_scaled",
                     "compiled_ms", "compiled_ms_scaled", "compiled_us_step", "compiled_us_step_scaled"],
                  csv_rows)
    rep.write_csv(f"{out_dir}/{name}_dtypes.csv", ["row"] + [f"{t:g}" for t in paper["thresholds"]] + ["paper"],
                  dtype_rows)
    number = name[-1]
    lines.append(f"### Table {number}: {paper['caption']}\n")
    lines.append(f"Steps in {primary} (1-based, `ours (paper, difference)`; ↑ diverged). Times in float64, "
                 "scaled (×) to the first row, the paper's best SGD run; the paper's times are from a 2017 "
                 "MacBook Pro. [Markdown](" + rep.link(out_dir, f"{name}.md") + "), [CSV]("
                 + rep.link(out_dir, f"{name}.csv") + ").\n")
    lines.append(table_md)
    lines.append(f"\nSteps in {' / '.join(PRECISIONS)} ([CSV]({rep.link(out_dir, name + '_dtypes.csv')})): "
                 "the precisions of the module docstring; every SGD row of the paper is exact in float32-all.\n\n")
    lines.append(dtype_md)
    if search:
        s = search[0]
        cfg = configs[f"{name}_search"]
        lines.append(f"\nSearch ({primary}): SGD lr over {cfg['lr_grid'][2]} log-spaced values in "
                     f"[{cfg['lr_grid'][0]:g}, {cfg['lr_grid'][1]:g}], refined over {cfg['refine']} linear "
                     f"values between the best one's neighbours; NaSGD alpha over {cfg['alpha_grid'][2]} "
                     f"values in [{cfg['alpha_grid'][0]:g}, {cfg['alpha_grid'][1]:g}]; criterion: fewest steps to "
                     f"{paper['thresholds'][-1]:g}. Found lr = {s['lr']:.7g}, alpha = {s['alpha']:.4g}.\n")
    if any("NaSGD" in n and "differs from the paper" in n for n in notes):
        spread = max([abs(a - b) / b for r in ours if r["method"] == "nagd"
                      for a, b in zip(r["float32-all"]["hits"], r["float64"]["hits"]) if a > 0 and b > 0] or [0.0])
        notes.append("NaSGD rows follow Algorithm 1 (L = 0, max_lr = 1, alpha as given). Their step counts "
                     f"depend on rounding: float32-all and float64 differ by up to {100 * spread:.0f}% here, "
                     "and a change of the starting point in its last digits changes them as much (the "
                     "distributions below), so a single count is one draw, not the row's value.")
    if search and search[0].get("boundary"):
        lines.append(_boundary_text(name, search[0], paper))
    if rnd:
        lines.append(_random_text(name, rnd, runs.get(f"{name}_expectation"), prand, out_dir))
    if runs.get(f"{name}_nudge"):
        lines.append(_nudge_text(name, runs[f"{name}_nudge"][0], configs[f"{name}_nudge"], paper, out_dir))
    lines.append(_timing_text(ours))
    if notes:
        lines.append("\nNotes:\n\n" + "".join(f"- {n}\n" for n in notes))
    return "\n".join(lines) + "\n"


def _boundary_text(name, s, paper):
    b = s["boundary"]
    best = s["rows"][0][PRIMARY]["steps"]
    paper_best = paper["rows"][0]
    sweep = [v for _, v in b["sweep"] if v is not None]
    probes = ", ".join(f"{lr:g}: {('diverges', 'converges', 'neither (oscillates until maxiter)')[(2, 0, 1).index(st)]}"
                       for lr, st in b["status"])
    steps = [v for _, v in b["sweep"]]
    jumps = sum(1 for a, c, d in zip(steps, steps[1:], steps[2:])
                if None not in (a, c, d) and (c - a) * (d - c) < 0)        # changes of direction
    erratic = jumps > len(steps) // 10
    text = (f"\nThe best SGD learning rate: SGD stops converging above lr = {b['converges']:.8g} (bisection in "
            f"{PRIMARY}: reaches the last threshold at {b['converges']:.10g}, not at {b['fails']:.10g}); at the "
            f"paper's lrs near the edge: {probes}. The search's best lr = {s['lr']:.7g} needs {best} steps (the "
            f"paper's best, η = {paper_best['h']:g}: {paper_best['steps'][-1]}).")
    if sweep:
        text += (f" Over {len(b['sweep'])} lrs spaced evenly from 0.999 × the best to the edge the count ranges "
                 f"over {min(sweep)}-{max(sweep)} steps (median {int(np.median(sweep))}; it changes direction "
                 f"{jumps} times)")
        if erratic:
            text += (": near the edge the iterates zig-zag across the valley and the count is an erratic "
                     "function of lr, so the paper's best row is one sample of it"
                     + (" and a finer grid lands on a luckier lr, without contradicting the paper's table."
                        if best < paper_best["steps"][-1] else "."))
        else:
            text += ": the count grows smoothly towards the edge, where the contraction factor reaches 1."
    return text + "\n"


def _random_text(name, rnd, expectation, prand, out_dir):
    trials = [t for r in rnd for t in r["trials"]]
    k = len(prand["steps"])
    points = expectation[0]["points"] if expectation else 0
    rows, csv_rows = [], []
    for j in range(k):
        vals = np.array([t[PRIMARY]["hits"][j] for t in trials if t[PRIMARY]["hits"][j] > 0], dtype=float)
        mean, se = verdict.mean_se(vals)
        e = expectation[0][PRIMARY]["mean"][j] if expectation else None
        halves = expectation[0][PRIMARY]["half_grid_means"] if expectation else None
        err = abs(halves[0][j] - halves[1][j]) / 2 if halves else None
        z = p = zp = None
        if e is not None and se > 0:
            test = stats.ttest_1samp(vals, e)           # z = (mean - e)/SE, with its two-sided p-value
            z, p = float(test.statistic), float(test.pvalue)
            zp = (prand["steps"][j] - e) / se
        rows.append([f"≤ {PUBLISHED[name]['thresholds'][j]:g}", f"{mean:.2f} ± {se:.2f} ({len(vals)})",
                     rep.fmt(e), rep.fmt(err), "—" if z is None else f"{z:+.2f} (p {p:.2g})",
                     f"{prand['steps'][j]:g}", "—" if zp is None else f"{zp:+.2f}"])
        csv_rows.append([PUBLISHED[name]["thresholds"][j], mean, se, len(vals), e, err, z, p, prand["steps"][j], zp])
    rep.write_csv(f"{out_dir}/{name}_random.csv", ["threshold", "mean", "se", "trials", "expectation",
                  "quadrature_error", "z", "p", "paper", "paper_z"], csv_rows)
    return ("\nRandom alpha ~ U[0.2, 2], " + PRIMARY + ": mean ± standard error over the trials, the exact "
            f"expectation (midpoint rule over {points} evenly spaced alphas; error: half the difference of "
            "its two interleaved half grids), and z = (mean - expectation)/SE for our mean (the one-sample "
            "t-test, `scipy.stats.ttest_1samp`, with its two-sided p-value) and the paper's "
            f"([CSV]({rep.link(out_dir, name + '_random.csv')})). |z| up to about 2 is sampling noise.\n\n"
            + rep.markdown_table(["threshold", "mean ± SE (trials)", "expectation", "quadrature error", "z (p)",
                                  "paper", "paper's z"], rows) + "\n")


def _percentile(values, v):
    values = np.asarray(values, dtype=float)
    return 100.0 * (np.sum(values < v) + 0.5 * np.sum(values == v)) / len(values)


def _nudge_text(name, res, cfg, paper, out_dir):
    precisions = [p for p in PRECISIONS if p in cfg["scale"]]    # stored configs come back with sorted keys
    thresholds = paper["thresholds"]
    rows, csv_rows = [], []
    for r in res["rows"]:
        p = next((q for q in paper["rows"] if q["method"] == r["method"] and q["h"] == r["h"]), None)
        for prec in precisions:
            cells = []
            hits = r[prec]["hits"]
            for j in range(len(thresholds)):
                vals = [h[j] for h in hits if h[j] is not None]
                if len(vals) < len(hits):
                    cells.append(f"{len(hits) - len(vals)} not reached")
                    continue
                lo, med, hi = np.percentile(vals, [5, 50, 95])
                pct = _percentile(vals, p["steps"][j]) if p and p["steps"][j] is not None else None
                cells.append(f"{med:g} [{lo:g}, {hi:g}]" + (f", paper {p['steps'][j]} at {pct:.0f}%" if pct is not None
                                                             else ""))
                csv_rows.append([_label(r["method"], r["h"]), prec, thresholds[j], med, lo, hi,
                                 r[prec]["unperturbed"][j], None if p is None else p["steps"][j], pct])
            rows.append([_label(r["method"], r["h"]), prec] + cells
                        + [" ".join(rep.fmt(v) for v in r[prec]["unperturbed"])])
    rep.write_csv(f"{out_dir}/{name}_nudge.csv", ["row", "precision", "threshold", "median", "p5", "p95",
                  "unperturbed", "paper", "paper_percentile"], csv_rows)
    scales = ", ".join(f"{cfg['scale'][prec]:g} in {prec}" for prec in precisions)
    n = len(res["rows"][0][precisions[0]]["hits"])
    return (f"\nDistributions over {n} nudged starting points x0 · (1 + s·u), u ~ U(-1, 1) per "
            f"coordinate (s = {scales}; a 1e-12 nudge is below float32's resolution): median [5%, 95%] of the "
            "steps to each threshold and the percentile of the paper's count among them; last column: the "
            f"unperturbed run ([CSV]({rep.link(out_dir, name + '_nudge.csv')})). SGD is not sensitive to the "
            "nudges; NaSGD is.\n\n"
            + rep.markdown_table(["row", "precision"] + [f"≤ {t:g}" for t in thresholds] + ["unperturbed"], rows)
            + "\n")


def _timing_text(ours):
    """The paper's timing claims (a NaSGD step costs 50-65% more; runs are 10-70% faster), in both loops."""
    base = ours[0]
    out = []
    for loop in ("python", "compiled"):
        ms0 = base["time"][f"{loop}_ms"]
        if ms0 is None:
            continue
        us0 = ms0 / base["time"]["steps"]
        step, run = [], []
        for r in ours:
            t = r["time"]
            if r["method"] != "nagd" or t[f"{loop}_ms"] is None or r["float64"]["status"] != 0:
                continue
            step.append(100 * (t[f"{loop}_ms"] / t["steps"] / us0 - 1))
            run.append(100 * (1 - t[f"{loop}_ms"] / ms0))
        if step:
            out.append(f"{loop} loop: a NaSGD step costs {min(step):+.0f}% to {max(step):+.0f}% against the best "
                       f"SGD run's, and NaSGD's runs take {min(run):.0f}% to {max(run):.0f}% less time")
    if not out:
        return ""
    loads = [r["time"].get("load") for r in ours if r["time"].get("load") is not None]
    load = (f" (1-minute load average {min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} cores while timing: "
            "on a loaded machine these ratios are noisy)") if loads else ""
    return ("\nThe paper's timing claims (a NaSGD step takes 50-65% longer than an SGD step; runs take 10-70% "
            "less time), measured with both methods in the same loop (the Python loop calls `nagd.optim.SGD` "
            "or `nagd.optim.NaGD` step by step; the compiled loop is `descend`), float64, this machine" + load + ": "
            + "; ".join(out) + ".\n")


def report(runs, out_dir):
    """Write Tables 1-2 (Markdown, CSV) and Figures 1-3 (PNG) into out_dir; return the Markdown.

    Parameters
    ----------
    runs : dict
        ``{config_name: [runner.Run, ...]}`` of stored runs (any subset of `CONFIGS`); the
        text describes the configs the runs were made with (full or quick).
    out_dir : str
        Folder for the files.

    Returns
    -------
    str
    """
    results = {name: [r.result for r in recs] for name, recs in runs.items() if recs}
    configs = {name: recs[0].config for name, recs in runs.items() if recs}
    parts = [_table("table1", results, configs, out_dir), _table("table2", results, configs, out_dir)]
    if results.get("fields"):
        parts.append(_figures(results["fields"][0], configs["fields"], out_dir))
    return "\n".join(p for p in parts if p)


def _figures(res, config, out_dir):
    from .. import plotting

    problem = problems.get(config["problem"])

    def field(X, Y):
        _, U, V = _on_grid(problem, X, Y)
        return -U, -V

    figs = PUBLISHED["figures"]
    md = ["### Figures 1-3: vector fields\n"]
    for number, pair in zip((1, 2), res["trajectories"]):
        n = len(pair["nagd"][0])
        plotting.vector_field_trajectories(
            field, [(pair["sgd"][0], pair["sgd"][1], plotting.SGD_COLOR, f"SGD(η = {pair['lr']:g})"),
                    (pair["nagd"][0], pair["nagd"][1], plotting.NASGD_COLOR, f"NaSGD(α = {pair['alpha']:g})")],
            f"{out_dir}/fig{number}.png", extent=(-0.15, 1.1, -0.15, 1.1),
            marker_alpha=0.05 if number == 1 else 0.3,      # Figure 2's iterates are sparse: darker circles
            title=f"Figure {number}: -grad q and the first {n} iterates from (1, 1)")
        md.append(f"Figure {number}: the field -grad q with the first {n} iterates of NaSGD(α = {pair['alpha']:g}) "
                  f"(blue) and SGD(η = {pair['lr']:g}) (red) from (1, 1) (paper: α = {figs[f'fig{number}']['alpha']:g}, "
                  f"η = {figs[f'fig{number}']['lr']:g}).\n\n![Figure {number}]({rep.link(out_dir, f'fig{number}.png')})\n")
    r = res["ratio"]
    X, Y = np.array(r["x"]), np.array(r["y"])
    ratio = np.array([[np.nan if v is None else v for v in row] for row in r["ratio"]])
    plotting.speed_ratio_map(X, Y, ratio, f"{out_dir}/fig3.png",
                             title="Figure 3: speed advantage (area ~ ratio of field lengths × α*/η*)")
    a, lr = figs["fig3"]["alpha"], figs["fig3"]["lr"]
    on_x = float(_speed_ratio(np.array(1.0), np.array(0.0), a, lr, problem))
    on_y = float(_speed_ratio(np.array(0.0), np.array(1.0), a, lr, problem))
    md.append(f"Figure 3: ratio of the lengths of the NaSGD field (q/|grad q|) and the SGD field (|grad q|), "
              f"times α*/η* = {a:g}/{lr:g} (Table 1's best). On the x-axis the ratio is {on_x:.2f} "
              f"(SGD {1 / on_x:.1f}× faster; paper: \"about twice as fast\"), on the y-axis {on_y:.2f} "
              f"(NaSGD {on_y:.1f}× faster; paper: \"about eight times\").\n\n"
              f"![Figure 3]({rep.link(out_dir, 'fig3.png')})\n")
    return "\n".join(md)
