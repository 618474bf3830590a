"""The Polyak-family evaluation (nagd.experiments.polyak_eval) through the runner, in quick mode."""
import json

import pytest

from nagd.experiments import polyak_eval, runner


@pytest.fixture(scope="module")
def quick_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("polyak")
    sections = runner.load_sections(["nagd.experiments.polyak_eval"])
    tasks = runner.plan(sections, ["polyak_simple", "polyak_layer", "polyak_stop"], quick=True)
    res = runner.run_suite(tasks, out, jobs=1)
    assert not res.failures, res.failures
    again = runner.run_suite(tasks, out, jobs=1)                 # stored runs are not run again
    assert len(again.skipped) == len(tasks) and not again.done
    runs = {}
    for rec in runner.load_runs(out, "polyak_eval"):
        runs.setdefault(rec["name"], []).append(runner.Run.from_record(rec))
    return out, runs


def test_section2_steps_match_the_papers_tables(quick_runs):
    _, runs = quick_runs
    (result,) = [r.result for r in runs["simple"]]
    # Table 1: NaSGD(0.7) reaches q <= 1e-2 at step 12; Table 2: r <= 1 at step 16 (x_0 is step 1)
    assert result["quadratic"]["NaSGD(0.7)"]["reach"][0] == 12
    assert result["rosenbrock"]["NaSGD(0.7)"]["reach"][0] == 16
    assert result["rosenbrock"]["SGD(lr=0.01)"]["final"] is None          # diverges, stored as None
    json.dumps(result, allow_nan=False)


def test_layer_runs_compare_variants_on_common_seeds(quick_runs):
    _, runs = quick_runs
    config, results = runs["layer"][0].config, [r.result for r in runs["layer"]]
    assert len(results) == config["runs"] == 2
    for r in results:
        assert set(r["distance"]) == {label for label, _, _ in polyak_eval.VARIANTS}
        d = r["distance"]["NaSGD(0.7)"]
        assert len(d) == config["epochs"] + 1 and d[-1] < d[0]      # NaSGD makes progress


def test_report_writes_every_table(quick_runs):
    out, runs = quick_runs
    text = polyak_eval.report(runs, out)
    assert (out / "polyak.md").read_text() == text
    for title in ("Section-2 functions", "Layer matching", "Stopping rule: section-2", "Stopping rule: layer"):
        assert title in text
    for label, _, _ in polyak_eval.VARIANTS:
        assert f"| {label} |" in text
    assert f"{polyak_eval.QUICK['layer']['epochs']} epochs of 100 steps" in text     # the quick config that ran


def test_every_variant_is_a_registry_name_and_unknown_tasks_are_refused():
    from nagd import optim
    for _, kind, params in polyak_eval.VARIANTS:
        assert isinstance(optim.make(kind, **params), optim.Optimizer)
    with pytest.raises(ValueError, match="config task must be one of"):
        polyak_eval.run({"task": "cifar"}, 0)
