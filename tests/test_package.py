"""The package surface: lazy submodules, what `import nagd` loads, and plotting without a backend switch."""
import json
import os
import subprocess
import sys
import textwrap

import pytest


def run(code):
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTHONWARNINGS": "error"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_nagd_loads_no_heavy_dependency():
    loaded = run("""
        import json, sys
        import nagd
        heavy = ("numba", "scipy", "matplotlib", "dask")
        print(json.dumps(sorted({m.split(".")[0] for m in sys.modules if m.split(".")[0] in heavy})))
    """)
    assert loaded == []


def test_submodules_and_public_names_load_on_first_use():
    names = run("""
        import json
        import nagd
        out = [type(nagd.diagnostics.OscillationStop()).__name__, nagd.optim.make("sps_plus").__class__.__name__,
               nagd.nn.Sequential.__name__, nagd.minimize.__name__, nagd.nagd.__name__, nagd.NaGD.__name__,
               nagd.kernels.sq_norm.__name__, nagd.problems.__name__, "OscillationStop" in dir(nagd.diagnostics),
               "optim" in dir(nagd)]
        print(json.dumps(out))
    """)
    assert names == ["OscillationStop", "PolyakSGD", "Sequential", "minimize", "nagd", "NaGD", "sq_norm",
                     "nagd.problems", True, True]


def test_unknown_attribute_is_an_attribute_error():
    import nagd
    with pytest.raises(AttributeError, match="has no attribute 'nosuchthing'"):
        nagd.nosuchthing


def test_plotting_writes_a_figure_without_pyplot_or_a_backend_switch(tmp_path):
    result = run(f"""
        import json, sys
        import matplotlib
        before = dict.__getitem__(matplotlib.rcParams, "backend")    # raw: reading it may resolve it
        from nagd.experiments import plotting
        path = plotting.curves({{"a": ([0, 1, 2], [1.0, 0.5, 0.25])}}, {str(tmp_path / "c.png")!r}, "x", "y")
        after = dict.__getitem__(matplotlib.rcParams, "backend")
        print(json.dumps([str(before) == str(after), "matplotlib.pyplot" in sys.modules, path]))
    """)
    assert result[:2] == [True, False]
    assert (tmp_path / "c.png").stat().st_size > 1000


def test_datasets_is_below_the_experiments_and_loads_no_network_code():
    """`nagd.datasets` (and its old name `nagd.data`) is in the models-and-data layer: it imports
    nothing of `nagd.experiments`, nor Numba, SciPy or matplotlib; the network code loads only
    with the downloader `nagd.datasets.fetch`."""
    loaded = run("""
        import json, sys
        import nagd
        out = [nagd.datasets.load_mnist.__module__, nagd.data.load_mnist is nagd.datasets.load_mnist]
        net = "urllib.request" in sys.modules
        import nagd.datasets.fetch
        heavy = ("numba", "scipy", "matplotlib", "dask")
        out += [net, "urllib.request" in sys.modules,
                sorted(m for m in sys.modules if m.startswith("nagd.experiments") or m.split(".")[0] in heavy)]
        print(json.dumps(out))
    """)
    assert loaded == ["nagd.datasets.mnist", True, False, True, []]
