"""The compiled loops return to Python to handle Ctrl-C; fun and jac never see the iterate itself."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from numba import njit

import nagd

JIT = not getattr(__import__("numba").config, "DISABLE_JIT", False)

_SCRIPT = textwrap.dedent("""
    import sys, numpy as np
    from numba import njit
    import nagd

    @njit
    def f(x):
        return np.sum(np.abs(x)) + 1.0          # minimum 1: lower_bound 0 is never reached

    @njit
    def g(x):
        return np.where(x >= 0.0, 1.0, -1.0)    # never zero: the gradient test never fires

    method = sys.argv[1]
    nagd.minimize(f, np.ones(3), jac=g, method=method, maxiter=10, tol=0.0, gtol=0.0, compiled=True)   # compile
    print("ready", flush=True)
    nagd.minimize(f, np.ones(3), jac=g, method=method, maxiter=10**15, tol=0.0, gtol=0.0, compiled=True,
                  **({"memory": 1} if method == "bundle" else {}))
    print("finished", flush=True)
""")


@pytest.mark.skipif(not JIT, reason="the compiled loop needs Numba")
@pytest.mark.skipif(os.name != "posix", reason="SIGINT to a child process")
@pytest.mark.parametrize("method", ["nagd", "bundle"])
def test_ctrl_c_stops_the_compiled_loop(tmp_path, method):
    script = tmp_path / "run.py"
    script.write_text(_SCRIPT)
    env = dict(os.environ)
    proc = subprocess.Popen([sys.executable, str(script), method], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        line = proc.stdout.readline()           # compiled (cache or not) and running
        assert line.strip() == "ready", proc.stderr.read()
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "finished" not in out and "KeyboardInterrupt" in err
    assert proc.returncode != 0


@njit
def _poisoning_f(x):
    v = np.sum((x - 3.0) ** 2)
    x[:] = np.nan                               # writes into its argument
    return v


@njit
def _poisoning_g(x):
    out = 2.0 * (x - 3.0)
    x[0] += 1.0
    return out


def _py_f(x):
    v = float(np.sum((x - 3.0) ** 2))
    x[:] = np.nan
    return v


def _py_g(x):
    out = 2.0 * (x - 3.0)
    x[0] += 1.0
    return out


@pytest.mark.parametrize("method", ["nagd", "bundle"])
@pytest.mark.parametrize("jitted", [True, False])
def test_a_fun_that_writes_into_x_does_not_poison_the_result(method, jitted):
    f, g = (_poisoning_f, _poisoning_g) if jitted else (_py_f, _py_g)
    res = nagd.minimize(f, np.zeros(3), jac=g, method=method, alpha=0.9, tol=1e-12)
    assert np.all(np.isfinite(res.x)) and res.status == 0
    clean = float(np.sum((res.x - 3.0) ** 2))
    assert res.fun == clean and np.allclose(res.x, 3.0, atol=1e-5)
