"""The teaching notebooks in notebooks/: each runs as a script (figures saved, claims checked) and,
converted by jupytext, executes in a Jupyter kernel with nbclient (figures inline, no error).
"""
import json
import os
import runpy
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.py"))
FIGURES = {
    "classroom": ["classroom_first_order_model.png", "classroom_fraction_removed.png",
                  "classroom_scale_invariance.png", "classroom_speed_ratio.png"],
    "equivalent_alpha": ["alpha_fraction_removed.png", "alpha_monitored_rescue.png", "alpha_settles.png"],
    "nonsmooth": ["nonsmooth_convergence.png", "nonsmooth_kink.png"],
}
SECONDS = 60   # each notebook takes about 10 s in a kernel on two cores; this catches minutes, not noise


def pngs(folder):
    return sorted(p.name for p in Path(folder).glob("*.png") if p.stat().st_size > 1000)


def run_script(name, tmp_path, monkeypatch, *options):
    path = ROOT / "notebooks" / f"{name}.py"
    monkeypatch.setattr(sys, "argv", [str(path), str(tmp_path), *options])
    ns = runpy.run_path(str(path), run_name="__main__")
    assert pngs(tmp_path) == FIGURES[name]
    return ns


def test_every_notebook_is_tested():
    assert {p.stem for p in NOTEBOOKS} == set(FIGURES)


def test_classroom_as_a_script(tmp_path, monkeypatch):
    ns = run_script("classroom", tmp_path, monkeypatch, "--quick")
    # Small steps remove what the first-order model predicts; no step removes more than all of q.
    assert ns["removed"][1] == pytest.approx(ns["alphas"][1], rel=0.05)
    assert max(ns["removed"]) < 1.0 and 1.0 < ns["best"] <= 2.0
    # The hand-written loop sums |g|^2 in order, as nagd does, so today both agree to the bit. A step
    # rounded differently (once, by 1 ulp) grows to about 1e-15 after 10 steps but to 1e-10 after 40
    # (measured with a BLAS dot as reference), so the tight comparison covers the first 10 steps.
    assert np.abs(ns["by_hand"][:11] - ns["library"][:11]).max() <= 1e-12
    assert ns["nagd_gap"] < 1e-8 < 0.1 < ns["sgd_gap"]
    # On the y-axis q = y^2/2 and |grad q|^2 = y^2: the ratio is (alpha/lr)/2 whatever y.
    assert ns["on_axis"] == pytest.approx(1.9 / 0.1156 / 2, rel=1e-12)
    assert ns["off_axis"] < 1.0


def test_equivalent_alpha_as_a_script(tmp_path, monkeypatch):
    ns = run_script("equivalent_alpha", tmp_path, monkeypatch)
    lmin, lmax, best = ns["lmin"], ns["lmax"], ns["best_lr"]
    assert best == pytest.approx(0.8) and lmax == pytest.approx(2.0)
    # No step removes more of f than alpha (1 - alpha/4), up to rounding.
    assert ns["worst"] < 1e-8
    runs = ns["runs"]
    for r in runs:
        # The settled alpha is 2 lr lambda of the slowest-converging direction ...
        assert r["settled_alpha"] == pytest.approx(2 * r["lr"] * (lmax if r["lr"] > best else lmin), rel=0.02)
        # ... above 2 exactly when lr is above the best constant rate, and the run converges exactly
        # when it is below 4 (lr < 2 / lmax).
        assert (r["settled_alpha"] > 2) == (r["lr"] > best)
        assert r["converges"] == (r["settled_alpha"] < 4) == (r["lr"] < 2 / lmax)
    bouncing = [r for r in runs if 2 < r["settled_alpha"] < 4]
    slowest_below = max((r for r in runs if r["settled_alpha"] < 2), key=lambda r: r["steps_to_1e-12"])
    assert len(bouncing) == 2 and any(r["steps_to_1e-12"] < slowest_below["steps_to_1e-12"] for r in bouncing)
    assert any(not r["converges"] for r in runs)
    assert ns["rescue"]["monitored"] < ns["rescue"]["plain"]


def test_nonsmooth_as_a_script(tmp_path, monkeypatch):
    ns = run_script("nonsmooth", tmp_path, monkeypatch)
    f_star, res, traces = ns["f_star"], ns["results"], ns["traces"]
    assert ns["kink_subgradient"] > 1.0                        # no zero gradient at the minimum
    bundle, nagd_, lbfgsb = (res[k] for k in ("bundle, lower_bound=f*", "nagd, lower_bound=f*", "L-BFGS-B"))
    assert bundle.status == 0 and bundle.success and 0.0 <= bundle.fun - f_star <= 1e-8
    assert nagd_.status == 1 and 1e-8 < nagd_.fun - f_star < 1e-1
    assert len(traces["nagd, lower_bound=f*"]) > 10 * len(traces["bundle, lower_bound=f*"])
    assert lbfgsb.success and lbfgsb.fun - f_star > 1e-3       # 'success' far from the minimum


def _kernel(tmp_path, monkeypatch):
    """A kernel spec for this interpreter, found first whatever kernels the machine has."""
    spec = tmp_path / "jupyter" / "kernels" / "nagd-test"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "nagd test", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")          # jupyter_core's future default, no warning
    monkeypatch.delenv("MPLBACKEND", raising=False)             # the kernel's default: inline figures
    return "nagd-test"


def execute(nb, tmp_path, monkeypatch):
    """Execute a notebook in a fresh kernel in tmp_path; return (nb, seconds)."""
    pytest.importorskip("ipykernel")
    nbclient = pytest.importorskip("nbclient")
    kernel = _kernel(tmp_path, monkeypatch)
    t0 = time.perf_counter()
    nbclient.NotebookClient(nb, timeout=300, kernel_name=kernel,
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    return nb, time.perf_counter() - t0


def outputs(nb):
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes_in_jupyter(path, tmp_path, monkeypatch):
    jupytext = pytest.importorskip("jupytext")
    nb = jupytext.read(path)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    nb, seconds = execute(nb, tmp_path, monkeypatch)
    out = outputs(nb)
    images = [o for o in out if "image/png" in o.get("data", {})]
    assert len(images) == len(FIGURES[path.stem])                 # every figure inline, once
    assert not [o for o in out if o.get("name") == "stderr"]       # no warning either
    assert not list(tmp_path.glob("*.png"))                        # nothing saved from a notebook
    assert seconds < SECONDS, f"{path.name} took {seconds:.0f} s in a kernel"


def test_example_parses_no_kernel_arguments(tmp_path, monkeypatch):
    # A kernel's sys.argv is [ipykernel_launcher, -f, <its connection file>]: an example run as the
    # main module inside a kernel must not read that as its options (it would take the existing
    # connection file for its output folder).
    nbformat = pytest.importorskip("nbformat")
    example = ROOT / "examples" / "equivalent_alpha.py"
    out = tmp_path / "figures"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "import os, runpy, sys\n"
        "assert '-f' in sys.argv\n"
        f"os.environ['NAGD_EXAMPLES_OUT'] = {str(out)!r}\n"
        f"runpy.run_path({str(example)!r}, run_name='__main__')")]
    execute(nb, tmp_path, monkeypatch)
    assert pngs(out) == ["alpha_monitored.png", "equivalent_alpha.png"]


def test_jupyter_tools_are_in_the_test_extra():
    text = (ROOT / "setup.cfg").read_text()
    test_extra = text.split("test =", 1)[1].split("\n[", 1)[0].split("\nexperiments =", 1)[0]
    for package in ("jupytext", "nbclient", "ipykernel"):
        assert package in test_extra, package
    assert os.path.isdir(ROOT / "notebooks")
