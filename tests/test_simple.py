"""Section 2: the paper's Tables 1-2 rows, the loops against references, the runs and the report."""
import math

import numpy as np
import pytest

import nagd
from nagd import problems
from nagd.experiments import published, runner, simple

T1, T2 = published.TABLE1, published.TABLE2
Q, R = problems.get("quadratic"), problems.get("rosenbrock")
SGD, NAGD = simple.SGD_METHOD, simple.NAGD_METHOD


def compiled(problem, table, method, h, dtype, maxiter=1_000_000):
    x = np.array(table["x0"], dtype=dtype)
    hits, status, steps = simple.descend(problem.pid, x, method, float(h), problem.minimum,
                                         np.array(table["thresholds"]), maxiter, np.empty((0, 2), dtype))
    return list(hits), int(status), int(steps)


def stored(config, seed):
    """One run of section 2 as its report receives it: the config that ran, the seed and the result."""
    return runner.Run(config, seed, simple.run(config, seed))


def paper_row(table, method, h):
    return next(r for r in table["rows"] if r["method"] == method and r["h"] == h)


@pytest.mark.parametrize("lr", [0.1156, 0.01, 0.1])
def test_table1_sgd_rows_exact_in_float64(lr):
    hits, status, _ = compiled(Q, T1, SGD, lr, np.float64)
    assert status == 0
    assert tuple(hits) == paper_row(T1, "sgd", lr)["steps"]


def test_table1_nasgd_best_row_matches_paper_in_both_dtypes():
    for dtype in (np.float64, np.float32):
        hits, status, _ = compiled(Q, T1, NAGD, 1.9, dtype)
        assert tuple(hits) == paper_row(T1, "nagd", 1.9)["steps"]


@pytest.mark.parametrize("lr", [0.0003945, 0.0001])
def test_table2_sgd_rows_within_a_tenth_of_a_percent_in_float32(lr):
    hits, status, _ = compiled(R, T2, SGD, lr, np.float32)
    paper = paper_row(T2, "sgd", lr)["steps"]
    assert status == 0
    for ours, theirs in zip(hits, paper):
        assert abs(ours - theirs) <= 1e-3 * theirs, (hits, paper)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_table2_sgd_0_001_diverges(dtype):
    hits, status, steps = compiled(R, T2, SGD, 0.001, dtype)
    assert status == 2 and hits == [-1] * 5 and steps < 100
    assert paper_row(T2, "sgd", 0.001)["steps"] == (None,) * 5


def numpy_reference(fun, grad, x0, method, h, thresholds, maxiter):
    """Plain NumPy float64: x <- x - lr*g, lr = h (SGD) or min(1, h*f/|g|^2) (NaSGD); 1-based hits, iterates."""
    x = np.array(x0, dtype=float)
    hits = [-1] * len(thresholds)
    xs = []
    for k in range(maxiter + 1):
        xs.append(x)
        f = fun(x)
        for j, t in enumerate(thresholds):
            if hits[j] < 0 and f <= t:
                hits[j] = k + 1
        if hits[-1] > 0:
            break
        g = grad(x)
        lr = h if method == SGD else min(1.0, h * f / np.sum(g * g))   # in order, as the kernel (not BLAS)
        x = x - lr * g
    return hits, np.array(xs)


@pytest.mark.parametrize("problem, table, method, h", [
    (Q, T1, NAGD, 1.9), (Q, T1, NAGD, 0.7), (Q, T1, SGD, 0.1), (R, T2, NAGD, 1.6), (R, T2, NAGD, 0.7),
    (R, T2, SGD, 0.0003945)])
def test_compiled_and_python_loops_match_a_numpy_reference(problem, table, method, h):
    def fun(x):
        return float(8 * x[0] ** 2 + 0.5 * x[1] ** 2) if problem is Q else \
            float((1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2)

    def grad(x):
        if problem is Q:
            return np.array([16 * x[0], x[1]])
        return np.array([-2 * (1 - x[0]) - 400 * x[0] * (x[1] - x[0] ** 2), 200 * (x[1] - x[0] ** 2)])

    ref, ref_xs = numpy_reference(fun, grad, table["x0"], method, h, table["thresholds"], 20_000)
    hits, status, steps = compiled(problem, table, method, h, np.float64)
    # the first iterates agree to rounding; then the Rosenbrock valley amplifies rounding
    # differences (another order of operations), so step counts are compared on q only
    trace = np.zeros((20, 2))
    simple.descend(problem.pid, np.array(table["x0"], dtype=float), method, float(h), 0.0, np.empty(0),
                   19, trace)
    n = min(20, len(ref_xs))
    np.testing.assert_allclose(trace[:n], ref_xs[:n], rtol=1e-9, atol=1e-12)
    if problem is Q or method == SGD:
        assert hits == ref, (hits, ref)
    py_hits, py_status, py_steps = simple.python_descend(problem, table["x0"], method, h, table["thresholds"],
                                                         1_000_000)
    assert (py_hits, py_status, py_steps) == (hits, status, steps)


@pytest.mark.parametrize("alpha", [1.9, 0.7])
def test_compiled_loop_agrees_with_nagd_minimize(alpha):
    hits, _, steps = compiled(Q, T1, NAGD, alpha, np.float64)
    res = nagd.minimize(Q.fun, np.array(T1["x0"]), jac=Q.grad, alpha=alpha, max_lr=1.0, tol=1e-10, gtol=0.0)
    assert res.status == 0 and res.nit + 1 == steps == hits[-1]


def test_fields_iterates_follow_closed_form():
    cfg = simple.QUICK["fields"]
    res = simple.run(cfg, 0)
    alpha, lr = cfg["pairs"][0]
    pair = res["trajectories"][0]
    xs, ys = np.array(pair["sgd"][0]), np.array(pair["sgd"][1])
    assert len(xs) == cfg["iterates"] == 6000
    k = np.arange(len(xs))
    np.testing.assert_allclose(xs, (1 - 16 * lr) ** k, rtol=1e-9, atol=1e-300)
    np.testing.assert_allclose(ys, (1 - lr) ** k, rtol=1e-9)
    nx, ny = np.array(pair["nagd"][0]), np.array(pair["nagd"][1])
    assert (nx[0], ny[0]) == (1.0, 1.0)
    q = 8 * nx ** 2 + 0.5 * ny ** 2
    # each NaSGD step removes about alpha of q (first-order), so q shrinks monotonically here
    assert np.all(np.diff(q) < 0)
    np.testing.assert_allclose(q[1:] / q[:-1], 1 - alpha, atol=0.02)


def test_speed_ratio_on_the_axes():
    a, lr = 1.9, 0.1156
    on_x = simple._speed_ratio(np.array([0.5]), np.array([0.0]), a, lr)[0]
    on_y = simple._speed_ratio(np.array([0.0]), np.array([0.5]), a, lr)[0]
    assert on_x == pytest.approx(8 / 256 * a / lr)      # q/|grad q|^2 = 8x^2 / 256x^2
    assert on_y == pytest.approx(0.5 * a / lr)          # = (y^2/2) / y^2
    assert math.isnan(simple._speed_ratio(np.array([0.0]), np.array([0.0]), a, lr)[0])


def test_search_finds_the_grid_minimum():
    cfg = simple.QUICK["table1_search"]
    res = simple.run(cfg, 0)
    lo, hi, n = cfg["lr_grid"]
    grid_steps = []
    for lr in np.geomspace(lo, hi, n):
        hits, status, steps = compiled(Q, T1, SGD, lr, np.float64)
        if status == 0:
            grid_steps.append(steps)
    best_sgd, best_nagd = res["rows"]
    assert best_sgd["h"] == res["lr"] and best_sgd["float64"]["steps"] <= min(grid_steps)
    lo, hi, n = cfg["alpha_grid"]
    alpha_steps = [compiled(Q, T1, NAGD, a, np.float64)[2] for a in np.linspace(lo, hi, n)]
    assert best_nagd["float64"]["steps"] == min(alpha_steps)


def test_random_row_is_seeded_and_in_range():
    cfg = dict(simple.QUICK["table1_random"], trials=4)
    a = simple.run(cfg, 7)
    b = simple.run(cfg, 7)
    c = simple.run(cfg, 8)
    alphas = [t["alpha"] for t in a["trials"]]
    assert alphas == [t["alpha"] for t in b["trials"]] != [t["alpha"] for t in c["trials"]]
    assert all(0.2 <= x <= 2.0 for x in alphas)
    assert [("python" in t) for t in a["trials"]] == [True] * cfg["python_trials"] + [False] * (4 - cfg["python_trials"])
    for t in a["trials"]:
        assert t["float64"]["status"] == 0
        if "python" in t:
            assert t["python"]["hits"] == t["float64"]["hits"]


def test_configs_follow_the_contract():
    assert set(simple.CONFIGS) == set(simple.QUICK)
    for target, names in simple.TARGETS.items():
        assert all(n in simple.CONFIGS for n in names)
    assert simple.CONFIGS["table1_random"]["runs"] * simple.CONFIGS["table1_random"]["trials"] == 2000
    rows = simple.CONFIGS["table2_rows"]["rows"]
    assert rows == [[r["method"], r["h"]] for r in T2["rows"] if "trials" not in r]
    with pytest.raises(ValueError, match="config\\['kind'\\] must be"):
        simple.run({"kind": "nope", "problem": "quadratic"}, 0)


def test_report_of_quick_runs(tmp_path):
    runs = {name: [stored(simple.QUICK[name], 0)] for name in ("table1_rows", "table2_rows", "fields")}
    text = simple.report(runs, str(tmp_path))
    assert "### Table 1" in text and "### Table 2" in text
    assert "23 (paper 23, =)" in text and "142986 (paper 142986, =)" in text
    assert "NaSGD(α = 0.7) differs from the paper" in text
    for name in ("table1.csv", "table2.md", "fig1.png", "fig2.png", "fig3.png"):
        assert (tmp_path / name).stat().st_size > 0
    header = (tmp_path / "table1.csv").read_text().splitlines()[0]
    assert header.startswith("row,kind,dtype,steps_0.01")
    assert "23 (paper 23, =)" in text and "NaSGD(α = 0.7) differs from the paper in float32-all" in text


def test_report_states_the_search_grid_of_the_runs_it_is_given(tmp_path):
    """A quick search is described with the quick grid it ran on, not the full grid of CONFIGS."""
    runs = {name: [stored(simple.QUICK[name], 0)] for name in ("table1_rows", "table1_search")}
    text = " ".join(simple.report(runs, str(tmp_path)).split())
    quick, full = simple.QUICK["table1_search"], simple.CONFIGS["table1_search"]
    assert quick["lr_grid"][2] != full["lr_grid"][2] and quick["refine"] != full["refine"]
    assert (f"SGD lr over {quick['lr_grid'][2]} log-spaced values in [0.001, 0.5], refined over "
            f"{quick['refine']} linear values between the best one's neighbours; NaSGD alpha over "
            f"{quick['alpha_grid'][2]} values in [0.01, 2]") in text
    assert f"over {full['lr_grid'][2]} log-spaced" not in text and f"over {full['refine']} linear" not in text


# ----------------------------------------------------------------------------------------------
# The paper's arithmetic: every operation in float32


def compiled_all_float32(problem, table, method, h, maxiter=1_000_000):
    x = np.array(table["x0"], dtype=np.float32)
    hits, status, steps = simple.descend(problem.pid, x, method, float(h), problem.minimum,
                                         np.array(table["thresholds"]), maxiter, np.empty((0, 2), np.float32), True)
    return list(hits), int(status), int(steps)


@pytest.mark.parametrize("table, problem, lr", [(T2, R, 0.0003945), (T2, R, 0.0001), (T1, Q, 0.1156),
                                                (T1, Q, 0.01), (T1, Q, 0.1)])
def test_every_sgd_row_is_exact_in_all_float32(table, problem, lr):
    hits, status, _ = compiled_all_float32(problem, table, SGD, lr)
    assert status == 0 and tuple(hits) == paper_row(table, "sgd", lr)["steps"]


def test_table2_best_sgd_row_is_13633_only_in_all_float32():
    assert compiled_all_float32(R, T2, SGD, 0.0003945)[0][-1] == 13633
    assert compiled(R, T2, SGD, 0.0003945, np.float32)[0][-1] == 13626     # stored float32, steps in float64
    assert compiled(R, T2, SGD, 0.0003945, np.float64)[0][-1] == 13630


def float32_reference(fun, grad, x0, method, h, thresholds, maxiter):
    """Plain NumPy, every operation on float32 scalars (NumPy 2 keeps float32 op float32 in float32)."""
    f32 = np.float32
    x = np.array(x0, dtype=f32)
    hits, xs = [-1] * len(thresholds), []
    for k in range(maxiter + 1):
        xs.append(x.copy())
        f = fun(x)
        for j, t in enumerate(thresholds):
            if hits[j] < 0 and f <= t:
                hits[j] = k + 1
        if hits[-1] > 0:
            break
        g = grad(x)
        if method == SGD:
            lr = f32(h)
        else:
            gg = f32(0.0)
            for v in g:
                gg = gg + v * v
            lr = min(f32(1.0), f32(h) * f / gg)
        x = np.array([x[0] - lr * g[0], x[1] - lr * g[1]], dtype=f32)
    return hits, np.array(xs)


@pytest.mark.parametrize("problem, table, method, h", [
    (Q, T1, NAGD, 0.7), (R, T2, NAGD, 1.6), (R, T2, NAGD, 0.7), (R, T2, SGD, 0.0003945)])
def test_all_float32_mode_against_a_float32_numpy_transcription(problem, table, method, h):
    f32 = np.float32

    def fun(x):
        if problem is Q:
            return f32(8.0) * x[0] * x[0] + f32(0.5) * x[1] * x[1]
        u, v = f32(1.0) - x[0], x[1] - x[0] * x[0]
        return u * u + f32(100.0) * v * v

    def grad(x):
        if problem is Q:
            return np.array([f32(16.0) * x[0], x[1]], dtype=f32)
        v = x[1] - x[0] * x[0]
        return np.array([f32(-2.0) * (f32(1.0) - x[0]) - f32(400.0) * x[0] * v, f32(200.0) * v], dtype=f32)

    maxiter = 20_000
    ref, ref_xs = float32_reference(fun, grad, table["x0"], method, h, table["thresholds"], maxiter)
    hits, status, steps = compiled_all_float32(problem, table, method, h, maxiter)
    assert hits == ref
    trace = np.zeros((len(ref_xs), 2), np.float32)
    simple.descend(problem.pid, np.array(table["x0"], np.float32), method, float(h), 0.0, np.empty(0),
                   len(ref_xs) - 1, trace, True)
    np.testing.assert_array_equal(trace, ref_xs)            # bit for bit, every iterate


# ----------------------------------------------------------------------------------------------
# One problem dispatch


@pytest.mark.parametrize("name", sorted(problems.PROBLEMS))
def test_descend_runs_the_problem_it_is_given(name):
    p = problems.get(name)
    for xstar in p.minimizers[:1]:                      # at a minimiser: every threshold at step 1
        x = np.array(xstar, dtype=np.float64)
        hits, status, steps = simple.descend(p.pid, x, SGD, 1e-3, p.minimum, np.array([1e-6, 1e-9]), 100,
                                             np.empty((0, x.shape[0])))
        assert (list(hits), status, steps) == ([1, 1], 0, 1), name
    x0 = np.array(p.x0, dtype=np.float64)                  # a few SGD steps: p's own function and gradient
    trace = np.zeros((4, x0.shape[0]))
    simple.descend(p.pid, x0.copy(), SGD, 1e-4, p.minimum, np.empty(0), 3, trace)
    expected = [x0]
    for _ in range(3):
        expected.append(expected[-1] - 1e-4 * p.grad(expected[-1]))
    np.testing.assert_allclose(trace, np.array(expected), rtol=1e-13, atol=1e-15)


def test_descend_refuses_an_unknown_problem_id():
    with pytest.raises(ValueError, match="pid"):
        simple.descend(99, np.zeros(2), SGD, 0.1, 0.0, np.array([1e-6]), 10, np.empty((0, 2)))


def test_docstring_states_the_arithmetic_the_code_does():
    """f and the gradient are computed in the iterate's dtype (nagd.problems), not in float64."""
    doc = " ".join(simple.__doc__.split())
    assert "computed in float64 from the iterate" not in doc
    assert "in the iterate's dtype" in doc
    x = np.array([-2.9999, -3.9998], dtype=np.float32)
    g32 = R.grad(x)
    g64 = R.grad(x.astype(np.float64)).astype(np.float32)
    assert g32.dtype == np.float32 and not np.array_equal(g32, g64)   # the two readings differ here


# ----------------------------------------------------------------------------------------------
# Distributions, expectations, the divergence edge, timing in one kind of loop


def test_nudged_starts_show_nasgd_is_chaotic_and_sgd_is_not():
    cfg = dict(simple.QUICK["table2_nudge"], nudges=12)
    res = simple.run(cfg, 3)
    assert simple.run(cfg, 3) == res                                    # seeded
    by_label = {(r["method"], r["h"]): r for r in res["rows"]}
    nasgd = by_label[("nagd", 1.6)]["float64"]
    assert nasgd["unperturbed"] == compiled(R, T2, NAGD, 1.6, np.float64)[0]
    assert len({tuple(h) for h in nasgd["hits"]}) > 3                   # 1e-12 changes the counts
    sgd = by_label[("sgd", 0.0003945)]["float64"]
    assert all(h == sgd["unperturbed"] for h in sgd["hits"])            # ... but not SGD's
    assert sgd["unperturbed"][-1] == 13630
    assert by_label[("sgd", 0.0003945)]["float32-all"]["unperturbed"][-1] == 13633


def test_expectation_is_the_midpoint_rule_over_alpha():
    cfg = dict(simple.QUICK["table1_expectation"], points=40)
    res = simple.run(cfg, 0)
    alphas = 0.2 + (np.arange(40) + 0.5) * 1.8 / 40
    hits = np.array([compiled(Q, T1, NAGD, a, np.float64)[0] for a in alphas], dtype=float)
    assert res["points"] == 40
    np.testing.assert_allclose(res["float64"]["mean"], hits.mean(axis=0), rtol=1e-15)
    np.testing.assert_allclose(res["float64"]["half_grid_means"][1], hits[1::2].mean(axis=0), rtol=1e-15)
    assert res["float64"]["unreached"] == 0


def test_sgd_divergence_edge_on_rosenbrock_is_below_0_0003948():
    cfg = simple.QUICK["table2_search"]
    res = simple.run(cfg, 0)
    b = res["boundary"]
    assert 0.00039475 < b["converges"] < b["fails"] < 0.0003948
    assert b["fails"] - b["converges"] < 1e-9
    assert b["status"] == [[0.0003945, 0], [0.00039475, 0], [0.0003948, 2]]     # the paper: above 0.0003948 diverges
    assert compiled_all_float32(R, T2, SGD, b["fails"])[1] == 2
    assert compiled_all_float32(R, T2, SGD, b["converges"])[1] == 0
    assert len(b["sweep"]) == cfg["sweep"]


def test_python_loop_is_the_same_kind_for_both_methods(monkeypatch):
    import scipy.optimize

    def no_scipy(*a, **k):
        raise AssertionError("the timed Python loop must not go through scipy.optimize.minimize")

    monkeypatch.setattr(scipy.optimize, "minimize", no_scipy)
    for method, h in ((NAGD, 0.7), (SGD, 0.1)):
        assert simple.python_descend(Q, T1["x0"], method, h, T1["thresholds"], 10_000)[0] == \
            compiled(Q, T1, method, h, np.float64)[0]


def test_report_shows_distributions_uncertainty_edge_and_timing(tmp_path):
    names = ["table2_rows", "table2_search", "table2_random", "table2_nudge", "table2_expectation"]
    runs = {n: [stored(dict(simple.QUICK[n], **({"nudges": 6} if "nudge" in n else {})), i)
                for i in range(simple.QUICK[n]["runs"])] for n in names}
    text = simple.report(runs, str(tmp_path))
    assert "13633 (paper 13633, =)" in text and "13630 / 13626 / 13633" in text
    assert "Distributions over 6 nudged starting points" in text
    assert "paper's z" in text and "midpoint rule over 200 evenly spaced alphas" in text
    assert "SGD stops converging above lr = 0.00039477" in text and "0.0003948: diverges" in text
    assert "The paper's timing claims" in text and "compiled loop: a NaSGD step costs" in text
    assert "1-minute load average" in text
    for f in ("table2_random.csv", "table2_nudge.csv"):
        assert (tmp_path / f).stat().st_size > 0
    import csv
    for row in csv.DictReader((tmp_path / "table2_random.csv").read_text().splitlines()):   # the t-test's z
        mean, se, e = float(row["mean"]), float(row["se"]), float(row["expectation"])
        assert float(row["z"]) == pytest.approx((mean - e) / se, rel=1e-9) and 0.0 <= float(row["p"]) <= 1.0


def test_report_lists_the_inferred_settings(tmp_path):
    from nagd.experiments import cli
    assert cli.main(["reproduce", "fields", "--quick", "--jobs", "1", "--out", str(tmp_path)]) == 0
    text = (tmp_path / "REPORT.md").read_text()
    assert "Settings the paper does not state" in text
    assert "| arithmetic | every operation in float32 (`float32-all`) |" in text
    for section in ("simple", "layer_matching", "mnist"):
        assert all(len(row) == 3 and all(row) for row in published.INFERRED[section])
