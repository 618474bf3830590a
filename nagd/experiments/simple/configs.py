"""The section's runs as data: the rows of Tables 1 and 2, the searches, the random and nudged rows,
the expectations and the vector fields (`CONFIGS`, `QUICK`, `TARGETS`)."""
from .. import published

__all__ = ["CONFIGS", "QUICK", "TARGETS", "PUBLISHED", "PRIMARY", "NUDGE_SCALE", "RESULT_VERSION"]

PUBLISHED = {"table1": published.TABLE1, "table2": published.TABLE2, "figures": published.FIGURES_SECTION2}


def _table_base(table, primary):
    src = PUBLISHED[table]
    return {"version": RESULT_VERSION, "table": table, "problem": src["problem"], "x0": list(src["x0"]),
            "thresholds": list(src["thresholds"]), "primary": primary, "maxiter": 1_000_000}


def _rows(table):
    return [[r["method"], r["h"]] for r in PUBLISHED[table]["rows"] if "trials" not in r]


RESULT_VERSION = 4
"""Part of every config: bump it when run() changes its results, so stored runs are redone."""


def _configs(quick):
    t = {"python_min_s": 0.0 if quick else 0.2, "compiled_min_s": 0.005 if quick else 0.05,
         "python_max_steps": 20_000 if quick else None}
    out = {}
    for table, lr_grid, alpha_grid in (("table1", [1e-3, 0.5, 401], [0.01, 2.0, 200]),
                                       ("table2", [1e-5, 1e-2, 401], [0.01, 2.0, 200])):
        base = _table_base(table, PRIMARY)
        out[f"{table}_rows"] = dict(base, kind="rows", rows=_rows(table), runs=1, **t)
        out[f"{table}_search"] = dict(
            base, kind="search", runs=1, refine=21 if quick else 2001, **t,
            lr_grid=lr_grid[:2] + [21 if quick else lr_grid[2]],
            alpha_grid=alpha_grid[:2] + [20 if quick else alpha_grid[2]],
            boundary_bisections=20 if quick else 60, sweep=21 if quick else 401)
        out[f"{table}_random"] = dict(base, kind="random", alpha_range=[0.2, 2.0],
                                      runs=2 if quick else 20, trials=10 if quick else 100,
                                      python_trials=2 if quick else 10)
        out[f"{table}_nudge"] = dict(base, kind="nudge", rows=[r for r in _rows(table) if r[0] == "nagd"][:2]
                                     + [_rows(table)[0]],
                                     nudges=20 if quick else 300, scale=NUDGE_SCALE, runs=1)
        out[f"{table}_expectation"] = dict(base, kind="expectation", alpha_range=[0.2, 2.0],
                                           points=200 if quick else 20_000, runs=1)
    figs = PUBLISHED["figures"]
    out["fields"] = {"version": RESULT_VERSION, "kind": "fields", "problem": "quadratic", "x0": list(figs["fig1"]["x0"]),
                     "iterates": figs["fig1"]["iterates"],
                     "pairs": [[figs[f]["alpha"], figs[f]["lr"]] for f in ("fig1", "fig2")],
                     "ratio_hyper": [figs["fig3"]["alpha"], figs["fig3"]["lr"]],
                     "ratio_grid": [-1.0, 1.0, -1.0, 1.0, 11 if quick else 21], "runs": 1}
    return out


PRIMARY = "float32-all"
"""The precision both tables compare to the paper (the paper's arithmetic; see the module docstring)."""
NUDGE_SCALE = {"float64": 1e-12, "float32-all": 1e-6}
"""Relative size of the nudges to x0 per precision: ``x0 * (1 + scale * u)``, u ~ U(-1, 1) per
coordinate. 1e-12 is below a float32 ulp (6e-8), so float32 runs are nudged by 1e-6 (a few ulps)."""


CONFIGS = _configs(quick=False)
QUICK = _configs(quick=True)
TARGETS = {
    "table1": ["table1_rows", "table1_search", "table1_random", "table1_nudge", "table1_expectation"],
    "table2": ["table2_rows", "table2_search", "table2_random", "table2_nudge", "table2_expectation"],
    "fields": ["fields"],
}
