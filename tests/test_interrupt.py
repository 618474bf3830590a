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
        out, err = proc.communicate(timeout=120)   # without the pauses it never ends
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


@njit
def _matrix_jac(x):
    return np.outer(x, x)


@pytest.mark.skipif(not JIT, reason="the compiled loop needs Numba")
@pytest.mark.parametrize("method", ["nagd", "bundle"])
def test_compiled_true_with_a_jac_of_the_wrong_kind_is_one_line(method):
    with pytest.raises(TypeError, match=r"^compiled=True: fun and jac cannot run in the compiled loop") as info:
        nagd.minimize(_poisoning_f, np.zeros(3), jac=_matrix_jac, method=method, compiled=True)
    assert "\n" not in str(info.value)


def test_jac_true_with_a_fun_that_returns_only_f_names_the_problem():
    with pytest.raises(TypeError, match="with jac=True, fun must return a pair"):
        nagd.minimize(lambda x: float(x @ x), np.ones(2), jac=True)


@njit
def _shor_like_f(x):
    return np.max(np.abs(x - 1.0)) * 3.0 + np.sum(np.abs(x - 1.0))


@njit
def _shor_like_g(x):
    d = x - 1.0
    g = np.where(d >= 0.0, 1.0, -1.0)
    i = np.argmax(np.abs(d))
    g[i] += 3.0 * (1.0 if d[i] >= 0.0 else -1.0)
    return g


@pytest.mark.parametrize("method", ["nagd", "bundle"])
def test_the_result_names_the_loop_that_ran_and_the_handoff_keeps_every_bit(method, monkeypatch):
    from nagd._minimize import _front
    f, g = _poisoning_f, _poisoning_g
    short = nagd.minimize(f, np.zeros(3), jac=g, method=method)             # short: never compiled
    slow = nagd.minimize(f, np.zeros(3), jac=g, method=method, compiled=False)
    assert short.loop == "python" and slow.loop == "python"
    assert np.array_equal(short.x, slow.x) and short.nit == slow.nit
    if not JIT:
        return
    fast = nagd.minimize(f, np.zeros(3), jac=g, method=method, compiled=True)
    assert fast.loop == "compiled" and np.array_equal(fast.x, slow.x) and fast.nit == slow.nit
    # a run longer than the handoff goes on compiled from where the Python loop stopped, to the bit
    monkeypatch.setattr(_front, "HANDOFF", 7)
    x0 = np.linspace(-2.0, 3.0, 6)
    options = dict(method=method, lower_bound=-1.0, maxiter=60, tol=0.0, gtol=0.0)   # a loose bound: all 60 steps
    both = nagd.minimize(_shor_like_f, x0, jac=_shor_like_g, **options)
    ref = nagd.minimize(_shor_like_f, x0, jac=_shor_like_g, compiled=False, **options)
    assert both.loop == "python+compiled" and ref.loop == "python"
    for key in ("x", "jac"):
        assert np.array_equal(both[key], ref[key])
    for key in ("fun", "nit", "nfev", "njev", "status", "lower_bound"):
        assert both[key] == ref[key], key
