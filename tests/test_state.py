"""Optimizers over many arrays (bit for bit the step on their concatenation) and the state protocol."""
import copy
import hashlib
import io
import json
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest

from nagd import kernels, optim
from nagd.optim import presets

# Every class, with options that reach each of its code paths (momentum, caps, "auto" bounds,
# weight decay, the record, the finite check, the alpha monitor's cuts).
CONFIGS = [
    ("NaGD", {}),
    ("NaGD", {"alpha": 0.7, "max_lr": None}),
    ("PolyakSGD", {"alpha": 0.7, "momentum": 0.5, "eps": 1e-3, "record": True}),
    ("PolyakSGD", {"lower_bound": "auto", "momentum": 0.3}),
    ("PolyakSGD", {"lower_bound": optim.LevelBound(delta0=0.5, grow=2.0), "record": True, "below": "skip"}),
    ("ALIG", {"momentum": 0.9, "max_lr": 1.0}),
    ("ALIG", {"momentum": 0.5, "adjusted_momentum": True, "record": True}),
    ("MoMo", {"beta": 0.8, "lower_bound": "auto", "weight_decay": 0.01}),
    ("MoMo", {"bias_correction": True, "record": True}),
    ("MoMoAdam", {"max_lr": 0.1, "weight_decay": 0.01}),
    ("MoMoAdam", {"divide": False, "lower_bound": "auto", "weight_decay": 0.01}),
    ("SGD", {"lr": 0.05}),
    ("SGD", {"lr": 0.05, "momentum": 0.9}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "check_finite": True}),
    ("ExpDecaySGD", {"lr0": 0.05, "rate": 0.1, "momentum": 0.5}),
    ("AlphaMonitoredSGD", {"lr": 0.5, "threshold": 0.5, "patience": 1, "factor": 0.5}),
    ("Adam", {"lr": 0.05}),
    ("RMSprop", {"lr": 0.01}),
    ("Adagrad", {"lr": 0.1, "check_finite": True}),
]
IDS = [f"{name}{kw}" for name, kw in CONFIGS]

# Shapes whose sizes put the joins between arrays everywhere: below 64 elements in all (one
# in-order sum), across the two streams of sq_norm's lanes and into its tail, empty and 0-d arrays.
LAYOUTS = [
    [(3,), (), (2, 2)],
    [(3, 4), (5,), (), (2, 3, 2), (0,), (7, 11)],
    [(64,), (1,)],
    [(31,), (33,), (30,), (1,)],
    [(5, 7, 3), (1000,), (17,), (2, 2), (301,)],
    [(2049,), (3, 5, 7, 11)],
]


def build(name, kwargs):
    """A new optimizer: each its own copy of the arguments (a LevelBound keeps state)."""
    return optim.make(name, **copy.deepcopy(kwargs))


def problem(n, seed=0):
    rng = np.random.default_rng(seed)
    x0 = rng.standard_normal(n) * 10.0 ** rng.integers(-2, 2, n)
    weights = rng.uniform(0.1, 3.0, n)
    centre = rng.standard_normal(n)
    return x0, weights, centre


def loss_and_grad(x, weights, centre):
    """A float64 loss of the flat vector and its gradient in the dtype of x."""
    d = x.astype(np.float64) - centre
    return 0.5 * float(np.sum(weights * d * d)) + 0.3, (weights * d).astype(x.dtype)


def split(flat, shapes):
    """Copies of the pieces of flat, reshaped to shapes."""
    out, start = [], 0
    for shape in shapes:
        size = int(np.prod(shape, dtype=int))
        out.append(flat[start:start + size].reshape(shape).copy())
        start += size
    return out


def structure(parts, kind):
    if kind == "list":
        return list(parts)
    if kind == "tuple":
        return tuple(parts)
    return {f"w{i}": p for i, p in enumerate(parts)}


def arrays_of(params):
    return list(params.values()) if isinstance(params, dict) else list(params)


def flat_of(params):
    return np.concatenate([a.reshape(-1) for a in arrays_of(params)])


def readouts(opt):
    out = {"t": opt.t, "last_lr": opt.last_lr, "last_alpha": opt.last_alpha, "last_decrease": opt.last_decrease}
    for name in opt._state_names:
        a = getattr(opt, name)
        out[name] = None if a is None else (a.shape, a.dtype.str, a.tobytes())
    for name in ("lr", "count", "loss_avg", "gamma", "lower_bound_estimate", "history"):
        out[name] = getattr(opt, name, None)
    rule = getattr(opt, "lower_bound_rule", None)
    out["rule"] = None if rule is None else rule._get_state()
    return repr(out)      # repr: NaN == NaN, and -0.0 != 0.0


@pytest.mark.parametrize("name, kwargs", CONFIGS, ids=IDS)
def test_a_step_on_many_arrays_is_bit_for_bit_the_step_on_their_concatenation(name, kwargs):
    for dtype in (np.float32, np.float64):
        for shapes in LAYOUTS:
            n = sum(int(np.prod(s, dtype=int)) for s in shapes)
            x0, weights, centre = problem(n, seed=n)
            for kind in ("list", "tuple", "dict"):
                flat, opt_flat = x0.astype(dtype), build(name, kwargs)
                params, opt = structure(split(flat, shapes), kind), build(name, kwargs)
                for step in range(6):
                    loss, g = loss_and_grad(flat, weights, centre)
                    grads = structure(split(g, shapes), kind)
                    if kind == "dict":          # in another order: the keys of params give the order
                        grads = dict(reversed(list(grads.items())))
                    a = opt_flat.step(flat, g, loss)
                    b = opt.step(params, grads, loss)
                    where = f"{name} {kwargs} {np.dtype(dtype).name} {shapes} {kind} step {step}"
                    assert repr(a) == repr(b), where
                    assert flat_of(params).tobytes() == flat.tobytes(), where
                    assert readouts(opt) == readouts(opt_flat), where


@pytest.mark.parametrize("name, kwargs", CONFIGS, ids=IDS)
def test_one_array_of_any_shape_is_its_flat_view(name, kwargs):
    x0, weights, centre = problem(24)
    for shape in [(24,), (4, 6), (2, 3, 4), (1, 24, 1)]:
        flat, opt_flat = x0.copy(), build(name, kwargs)
        shaped, opt = x0.reshape(shape).copy(), build(name, kwargs)
        for _ in range(4):
            loss, g = loss_and_grad(flat, weights, centre)
            assert repr(opt_flat.step(flat, g, loss)) == repr(opt.step(shaped, g.reshape(shape), loss))
        assert shaped.shape == shape and shaped.tobytes() == flat.tobytes()
        assert readouts(opt) == readouts(opt_flat)


def test_the_global_squared_norm_is_sq_norm_of_the_concatenation():
    rng = np.random.default_rng(1)
    for n in (0, 1, 63, 64, 65, 127, 128, 129, 1000, 4163):
        g = rng.standard_normal(n) * 10.0 ** rng.integers(-8, 8, n)
        for cuts in (np.sort(rng.integers(0, n + 1, k)) for k in (1, 2, 5, 9)):
            pieces = np.split(g, cuts)
            arrays = optim._arrays.as_arrays([p.copy() for p in pieces], pieces)
            assert arrays.sq_norm() == kernels.sq_norm(g)
            v = rng.standard_normal(n)
            assert arrays.dot(v) == kernels.dot(g, v)


def test_a_zero_gradient_spread_over_arrays_takes_no_step():
    params = [np.ones(3), np.ones((2, 2))]
    assert optim.NaGD().step(params, [np.zeros(3), np.zeros((2, 2))], 1.0) == 0.0
    assert all(np.array_equal(p, np.ones_like(p)) for p in params)


@pytest.mark.parametrize("params, grad, error, match", [
    ([np.ones(2)], np.ones(2), TypeError, r"grad must be a list or tuple of arrays as params is, got ndarray"),
    ({"w": np.ones(2)}, [np.ones(2)], TypeError, r"grad must be a dict of arrays as params is, got list"),
    ([np.ones(2), np.ones(3)], [np.ones(2)], ValueError, r"params holds 2, grad 1"),
    ({"w": np.ones(2), "b": np.ones(1)}, {"w": np.ones(2), "c": np.ones(1)}, ValueError,
     r"grad must have the keys of params: missing \['b'\], not in params \['c'\]"),
    ([np.ones((2, 3))], [np.ones((3, 2))], ValueError,
     r"grad\[0\] must match params\[0\] in shape and dtype: params\[0\] \(2, 3\) float64, grad\[0\] \(3, 2\) float64"),
    ({"w": np.ones(2)}, {"w": np.ones(2, np.float32)}, ValueError, r"grad\['w'\] must match params\['w'\]"),
    ([np.ones(2), np.ones(2, np.float32)], [np.ones(2), np.ones(2, np.float32)], ValueError,
     r"params\[1\] is float32 but params\[0\] is float64: all arrays must have one dtype"),
    ([], [], ValueError, "params must hold at least one array, got an empty list"),
    ([np.ones(2), [1.0]], [np.ones(2), np.ones(1)], TypeError, r"params\[1\] must be a numpy.ndarray, got list"),
    ([np.ones(2, int)], [np.ones(2, int)], TypeError, r"params\[0\] must be float32 or float64, got int64"),
    ([np.ones((3, 4))[:, ::2]], [np.ones((3, 2))], ValueError, r"params\[0\] must be contiguous \(C order\)"),
    ([np.ones((3, 4), order="F")], [np.ones((3, 4))], ValueError, r"params\[0\] must be contiguous"),
    (np.ones(3), np.ones(3)[::-1], ValueError, "grad must be contiguous"),
    (np.ones(3), [np.ones(3)], TypeError, "grad must be a numpy.ndarray, got list"),
    ("x", "x", TypeError, "params must be a numpy.ndarray, or a list, tuple or dict of them, got str"),
])
def test_mismatched_structures_shapes_and_dtypes_are_refused_in_one_line(params, grad, error, match):
    for opt in (optim.NaGD(), optim.Adam(), optim.MoMo(), optim.SGD(lr=0.1, check_finite=True)):
        with pytest.raises(error, match=match) as info:
            opt.step(params, grad, 1.0)
        assert "\n" not in str(info.value)


def test_read_only_params_in_a_list_are_refused_before_any_change():
    frozen = np.ones(2)
    frozen.flags.writeable = False
    first = np.ones(3)
    with pytest.raises(ValueError, match=r"params\[1\] must be writeable"):
        optim.SGD(lr=0.1).step([first, frozen], [np.ones(3), np.ones(2)])
    assert np.array_equal(first, np.ones(3))


def test_the_state_follows_the_concatenation_and_a_change_of_size_needs_reset():
    opt = optim.Adam(lr=0.1)
    opt.step([np.ones((2, 3)), np.ones(4)], [np.ones((2, 3)), np.ones(4)])
    assert opt.m.shape == (10,) and opt.v.shape == (10,)
    with pytest.raises(ValueError, match="params changed from 10 float64 elements to 11 float64; call reset"):
        opt.step([np.ones((2, 3)), np.ones(5)], [np.ones((2, 3)), np.ones(5)])
    opt.reset()
    opt.step([np.ones((2, 3)), np.ones(5)], [np.ones((2, 3)), np.ones(5)])


@pytest.mark.parametrize("name, kwargs", [("Adam", {}), ("SGD", {"lr": 0.1, "momentum": 0.9}),
                                          ("PolyakSGD", {"momentum": 0.5}), ("ALIG", {"momentum": 0.5}),
                                          ("MoMoAdam", {}), ("NaGD", {}), ("Adagrad", {"check_finite": True})])
def test_a_step_on_many_arrays_copies_no_parameters(name, kwargs):
    """Traced allocations of a step (after the first, which creates the state): a few hundred bytes."""
    rng = np.random.default_rng(0)
    shapes = [(100, 300), (300,), (300, 10), (10,), (5000,)]
    params = [rng.standard_normal(s) for s in shapes]
    grads = [rng.standard_normal(s) for s in shapes]
    opt = build(name, kwargs)
    opt.step(params, grads, 100.0)
    opt.step(params, grads, 100.0)          # compiled and warm
    tracemalloc.start()
    try:
        opt.step(params, grads, 100.0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    total = sum(p.nbytes for p in params)
    assert peak < 16_384 < total // 10, (peak, total)


# ---------------------------------------------------------------- the state protocol

BUILT = CONFIGS + [("ExpDecaySGD", {"lr0": 0.1, "rate": 0.01}), ("PolyakSGD", {"lower_bound": -1.0, "max_lr": None}),
                   *[(name, {}) for name in presets.PRESETS if name not in ("alig",)], ("alig", {"momentum": 0.9})]
BUILT_IDS = [f"{name}{kw}" for name, kw in BUILT]


def attributes(opt):
    """Every attribute, arrays by shape, dtype and bytes, and a LevelBound by its own attributes."""
    out = {}
    for k, v in vars(opt).items():
        if isinstance(v, np.ndarray):
            v = (v.shape, v.dtype.str, v.tobytes())
        elif isinstance(v, optim.LevelBound):
            v = attributes(v)
        out[k] = v
    return repr(out)


def plain(value):
    """Whether value is plain data: Python scalars, lists, dicts with string keys, NumPy arrays."""
    if value is None or isinstance(value, (bool, int, float, str, np.ndarray)):
        return not isinstance(value, np.generic)
    if isinstance(value, list):
        return all(plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and plain(v) for k, v in value.items())
    return False


def steps(opt, params, n, seed=0):
    """n steps on a fixed quadratic; the losses (params changed in place)."""
    centre = np.random.default_rng(seed).standard_normal(params.size)
    out = []
    for _ in range(n):
        d = params.astype(np.float64) - centre
        loss = 0.5 * float(d @ d) + 0.3
        out.append(repr(opt.step(params, d.astype(params.dtype), loss)))
    return out


def through_files(d):
    """d after a trip through JSON and an .npz file, as a checkpoint stores it."""
    arrays = {k: v for k, v in d["arrays"].items() if v is not None}
    rest = dict(d, arrays={k: None for k in d["arrays"]})
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    buf.seek(0)
    back = json.loads(json.dumps(rest))
    with np.load(buf) as z:
        back["arrays"].update({k: z[k] for k in z.files})
    return back


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name, kwargs", BUILT, ids=BUILT_IDS)
def test_state_dict_round_trip_continues_bit_for_bit(name, kwargs, dtype):
    x = np.random.default_rng(3).standard_normal(70).astype(dtype)
    opt = build(name, kwargs)
    steps(opt, x, 5)
    d = opt.state_dict()
    assert plain(d) and d["class"] == type(opt).__name__ and d["version"] == optim.STATE_VERSION
    for trip in (lambda d: d, through_files):
        other = build(name, kwargs)
        other.load_state_dict(trip(d))
        assert attributes(other) == attributes(opt)
    y = x.copy()
    assert steps(opt, x, 5, seed=1) == steps(other, y, 5, seed=1)
    assert x.tobytes() == y.tobytes() and attributes(other) == attributes(opt)


@pytest.mark.parametrize("name, kwargs", BUILT, ids=BUILT_IDS)
def test_load_state_dict_restores_the_hyperparameters_into_an_optimizer_built_otherwise(name, kwargs):
    opt = build(name, kwargs)
    x = np.linspace(-1.0, 2.0, 9)
    steps(opt, x, 3)
    cls = type(opt)
    other = cls(lr0=1.0, rate=0.5) if cls is optim.ExpDecaySGD else cls()
    other.load_state_dict(opt.state_dict())
    assert repr(other) == repr(opt) and attributes(other) == attributes(opt)
    a, b = x.copy(), x.copy()
    assert steps(opt, a, 4) == steps(other, b, 4) and a.tobytes() == b.tobytes()


def test_state_dict_before_any_step_and_after_reset():
    opt = optim.Adam(lr=0.1)
    d = opt.state_dict()
    assert d["state"] == {"t": 0, "last_lr": None, "last_alpha": None, "last_decrease": None}
    assert d["arrays"] == {"m": None, "v": None}
    assert d["hyperparameters"] == {"lr": 0.1, "betas": [0.9, 0.999], "eps": 1e-8, "lower_bound": 0.0,
                                    "check_finite": False}
    x = np.ones(3)
    opt.step(x, x.copy())
    opt.load_state_dict(d)
    assert opt.t == 0 and opt.m is None


def test_state_dict_is_a_copy_and_a_level_bound_is_plain_data():
    opt = optim.PolyakSGD(lower_bound=optim.LevelBound(delta0=0.5), momentum=0.5, record=True)
    x = np.ones(4)
    steps(opt, x, 3)
    d = opt.state_dict()
    assert d["hyperparameters"]["lower_bound"] == {"class": "LevelBound", "delta0": 0.5, "low": 0.5, "high": 0.75,
                                                   "grow": 1.5, "shrink": 0.5}
    assert set(d["state"]["lower_bound_rule"]) == {"best", "delta", "level", "last_loss"}
    before = d["arrays"]["velocity"].copy(), list(d["state"]["history"]["lr"])
    steps(opt, x, 2)
    assert np.array_equal(d["arrays"]["velocity"], before[0]) and d["state"]["history"]["lr"] == before[1]


def refused(opt, d, error, match):
    before = attributes(opt)
    with pytest.raises(error, match=match) as info:
        opt.load_state_dict(d)
    assert "\n" not in str(info.value)
    assert attributes(opt) == before                # nothing changed


def test_load_state_dict_refuses_another_class_version_or_malformed_data():
    sgd = optim.SGD(lr=0.1, momentum=0.9)
    x = np.ones(5)
    steps(sgd, x, 2)
    d = sgd.state_dict()
    adam = optim.Adam()
    refused(adam, d, ValueError, "state_dict holds the state of a SGD, not of a Adam")
    refused(optim.NaGD(), optim.make("nasgd").state_dict(), ValueError, "the state of a PolyakSGD, not of a NaGD")
    refused(sgd, dict(d, version=2), ValueError, "state_dict has version 2; this version of nagd reads 1")
    refused(sgd, {"state": {}}, ValueError, "state_dict must have the keys class, version, hyperparameters, state and "
                                            "arrays")
    refused(sgd, [1], ValueError, "state_dict must be a dict")
    refused(sgd, dict(d, hyperparameters={"lr": -1.0}), ValueError,
            "state_dict's hyperparameters do not build a SGD: lr must be a positive finite number")
    refused(sgd, dict(d, hyperparameters={"rate": 1.0}), ValueError, "hyperparameters do not build a SGD: .*rate")
    refused(sgd, dict(d, state={**d["state"], "extra": 1}), ValueError,
            r"state does not match a SGD's \(unknown: \['extra'\], missing: \[\]\)")
    refused(sgd, dict(d, arrays={}), ValueError, r"state_dict's arrays does not match a SGD's \(unknown: \[\], "
                                                 r"missing: \['momentum_buffer'\]\)")
    refused(sgd, dict(d, state={**d["state"], "t": True}), ValueError, "SGD.t is True, expected a non-negative integer")
    refused(sgd, dict(d, state={**d["state"], "t": -1}), ValueError, "SGD.t is -1")
    refused(sgd, dict(d, state={**d["state"], "last_lr": "fast"}), ValueError,
            "SGD.last_lr is 'fast', expected a number")
    refused(sgd, dict(d, arrays={"momentum_buffer": np.ones((5, 1))}), ValueError,
            "SGD.momentum_buffer must be None or a 1-D float32 or float64 array, got an array of shape")
    refused(sgd, dict(d, arrays={"momentum_buffer": [1.0] * 5}), ValueError, "momentum_buffer must be None or a 1-D")


def test_load_state_dict_refuses_state_of_another_shape_than_the_state_held():
    a, b = optim.Adam(), optim.Adam()
    steps(a, np.ones(4), 1)
    steps(b, np.ones(5), 1)
    refused(a, b.state_dict(), ValueError, r"Adam.m has shape \(5,\) float64, where this Adam holds \(4,\) float64; "
                                           r"call reset\(\) first")
    d = b.state_dict()
    refused(optim.Adam(), dict(d, arrays={**d["arrays"], "v": np.ones(4)}), ValueError,
            r"Adam.v has shape \(4,\) float64, but m has \(5,\) float64")
    refused(optim.Adam(), dict(d, arrays={**d["arrays"], "v": np.ones(5, np.float32)}), ValueError, "Adam.v has shape")
    a.reset()
    a.load_state_dict(d)                          # after reset, any consistent shape
    assert a.m.shape == (5,)
    with pytest.raises(ValueError, match="call reset"):   # and the next step checks it against params
        a.step(np.ones(4), np.ones(4))


def test_load_state_dict_checks_the_polyak_family_state():
    auto = optim.PolyakSGD(lower_bound="auto", record=True)
    steps(auto, np.ones(3), 2)
    d = auto.state_dict()
    fixed = optim.PolyakSGD(record=True)
    refused(fixed, dict(d, hyperparameters={**d["hyperparameters"], "lower_bound": 0.0}), ValueError,
            "PolyakSGD.lower_bound_rule is .*expected None for a fixed lower bound")
    refused(auto, dict(d, state={**d["state"], "lower_bound_rule": {"best": 1.0}}), ValueError,
            "PolyakSGD.lower_bound_rule is")
    refused(auto, dict(d, state={**d["state"], "history": {"lr": []}}), ValueError, "PolyakSGD.history is")
    refused(auto, dict(d, hyperparameters={**d["hyperparameters"], "lower_bound": {"class": "Adam"}}), ValueError,
            "do not build a PolyakSGD: cannot rebuild")


def test_state_dict_refuses_what_it_could_not_restore():
    opt = optim.SGD(lr=0.1)
    opt.schedule = object()
    with pytest.raises(TypeError, match=r"SGD.schedule: not a hyperparameter or state of SGD"):
        opt.state_dict()
    opt = optim.Adam(lr=0.1)
    opt.eps = 1e-3
    with pytest.raises(ValueError, match=r"Adam.eps is 0.001, not the 1e-08 its constructor arguments give"):
        opt.state_dict()


def test_many_arrays_state_dict_round_trip():
    rng = np.random.default_rng(0)
    params = {"W": rng.standard_normal((4, 3)), "b": rng.standard_normal(3)}
    opt = optim.MoMoAdam(lower_bound="auto")

    def run(o, p, k):
        for _ in range(k):
            g = {key: 2.0 * v for key, v in p.items()}
            o.step(p, g, sum(float(np.sum(v * v)) for v in p.values()) + 0.1)

    run(opt, params, 3)
    d = opt.state_dict()
    assert d["arrays"]["m"].shape == (15,)
    other, copy = optim.MoMoAdam(lower_bound="auto"), {k: v.copy() for k, v in params.items()}
    other.load_state_dict(d)
    run(opt, params, 3)
    run(other, copy, 3)
    assert all(params[k].tobytes() == copy[k].tobytes() for k in params)


# ---------------------------------------------------------------- checkpoints through the protocol

REPORT = Path(__file__).resolve().parent.parent / "docs" / "report"


def _stored_runs():
    """(checkpoint, config, seed) of the stored MNIST runs of one thread that left a checkpoint."""
    out = []
    for path in sorted((REPORT / "checkpoints" / "mnist").glob("*/checkpoint.bin")):
        record = REPORT / "runs" / "mnist" / f"{path.parent.name}.json"
        if record.is_file():
            stored = json.loads(record.read_text())
            if int(stored["config"].get("threads", 1)) == 1:
                out.append((path, stored["config"], stored["seed"]))
    return out


def _meta(blob):
    with np.load(io.BytesIO(blob.partition(b"\n")[2]), allow_pickle=False) as z:
        return json.loads(z["meta"].tobytes().decode()), {k: z[k] for k in z.files if k != "meta"}


@pytest.mark.skipif(not _stored_runs(), reason="no stored MNIST checkpoints in docs/report")
def test_the_stored_report_checkpoints_still_load_from_a_copy(tmp_path):
    """Every stored checkpoint (formats 1 and 2) is restored whole, or refused by name; the originals are only read."""
    from nagd.experiments import mnist
    loaded = 0
    for i, (path, config, seed) in enumerate(_stored_runs()):
        blob = path.read_bytes()
        meta, arrays = _meta(blob)
        folder = tmp_path / str(i)
        folder.mkdir()
        (folder / "checkpoint.bin").write_bytes(blob)
        dtype = np.dtype(config.get("dtype", "float32"))
        extra = config.get("metrics", "test") == "all"
        seeds = np.random.SeedSequence(int(seed)).spawn(3 if extra else 2)
        model = mnist.build_model(dtype, seed=np.random.default_rng(seeds[0]), dropout=config.get("dropout", "channel"))
        gens = [np.random.default_rng(seeds[1]), model.rng] + ([np.random.default_rng(seeds[2])] if extra else [])
        opt = optim.make(config["optimizer"], **config.get("params", {}))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            history = mnist.load_checkpoint(str(folder), config, seed, model.params, opt, gens)
        if history is None:       # NaGD runs older than its momentum: refused, naming what is missing
            assert meta.get("format", 1) == 1 and "velocity" not in meta["optimizer"]
            assert len(caught) == 1 and "state does not match this version's" in str(caught[0].message)
            continue
        assert not caught and history == meta["history"]
        assert model.params.tobytes() == arrays["params"].tobytes() and opt.t == meta["optimizer"]["t"]
        for name, value in opt.state_dict()["arrays"].items():
            assert (value is None) == (f"opt.{name}" not in arrays)
            assert value is None or value.tobytes() == arrays[f"opt.{name}"].tobytes()
        loaded += 1
    assert loaded


def _checkpoint_round_trip(tmp_path, name, kwargs, change=None):
    from nagd.experiments import checkpoint
    rng = np.random.default_rng(0)
    params, gens = rng.standard_normal(12), [np.random.default_rng(1)]
    opt = build(name, kwargs)
    steps(opt, params, 4)
    checkpoint.save(str(tmp_path), "run", params, opt, gens, {"epoch": [0, 1]})
    if change is not None:
        path = tmp_path / "checkpoint.bin"
        meta, arrays = _meta(path.read_bytes())
        change(meta, arrays)
        buf = io.BytesIO()
        np.savez(buf, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), **arrays)
        payload = buf.getvalue()
        path.write_bytes(hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload)
    fresh, into, fresh_gens = build(name, kwargs), np.zeros(12), [np.random.default_rng(5)]
    history = checkpoint.load(str(tmp_path), ["run"], into, fresh, fresh_gens)
    return opt, params, fresh, into, history


@pytest.mark.parametrize("name, kwargs", CONFIGS, ids=IDS)
def test_a_checkpoint_restores_every_optimizer_to_continue_bit_for_bit(tmp_path, name, kwargs):
    opt, params, fresh, into, history = _checkpoint_round_trip(tmp_path, name, kwargs)
    assert history == {"epoch": [0, 1]} and into.tobytes() == params.tobytes()
    assert attributes(fresh) == attributes(opt)
    assert steps(opt, params, 3, seed=2) == steps(fresh, into, 3, seed=2) and into.tobytes() == params.tobytes()


def test_a_checkpoint_of_the_attribute_writers_with_momos_working_array_loads(tmp_path):
    def as_before(meta, arrays):          # format 3 as written from the attributes: _stats and no hyperparameters
        arrays["opt._stats"] = np.zeros(4)
        del meta["optimizer_hyperparameters"]
    opt, params, fresh, into, history = _checkpoint_round_trip(tmp_path, "MoMo", {"lower_bound": "auto"}, as_before)
    assert history is not None and attributes(fresh) == attributes(opt)


@pytest.mark.parametrize("change, reason", [
    (lambda meta, arrays: meta["optimizer"].update(eps=1e-3), r"its Adam.eps is 0.001, where this run has 1e-08"),
    (lambda meta, arrays: meta["optimizer_hyperparameters"].update(lr=0.5),
     r"its Adam.lr is 0.5, where this run has 0.05"),
    (lambda meta, arrays: meta["optimizer"].pop("beta1"), None),           # a setting may be absent
    (lambda meta, arrays: meta["optimizer"].pop("t"), r"missing: \['t'\]"),
    (lambda meta, arrays: meta["optimizer"].update(t=2.5), r"Adam.t is 2.5, expected a non-negative integer"),
])
def test_a_checkpoint_setting_must_be_the_runs(tmp_path, change, reason):
    from nagd.experiments.checkpoint import CheckpointWarning
    if reason is None:
        assert _checkpoint_round_trip(tmp_path, "Adam", {"lr": 0.05}, change)[-1] is not None
        return
    with pytest.warns(CheckpointWarning, match=reason):
        assert _checkpoint_round_trip(tmp_path, "Adam", {"lr": 0.05}, change)[-1] is None


def test_a_hyperparameter_added_since_the_checkpoint_is_taken_at_its_default_only(tmp_path):
    from nagd.experiments.checkpoint import CheckpointWarning

    def written_before(meta, arrays):      # Adagrad had no initial_accumulator_value when this was written
        del meta["optimizer_hyperparameters"]["initial_accumulator_value"]
    opt, params, fresh, into, history = _checkpoint_round_trip(tmp_path, "Adagrad", {"lr": 0.1}, written_before)
    assert history is not None and attributes(fresh) == attributes(opt)
    with pytest.warns(CheckpointWarning, match=r"its Adagrad.initial_accumulator_value is '\(absent\)', where "
                                               r"this run has 0.1"):
        _checkpoint_round_trip(tmp_path, "Adagrad", {"lr": 0.1, "initial_accumulator_value": 0.1}, written_before)


def test_the_optimizer_code_holds_no_checkpoint_format():
    import nagd.optim
    for path in Path(nagd.optim.__file__).parent.glob("*.py"):
        assert "checkpoint" not in path.read_text().lower(), path


def test_the_example_of_docs_polyak_md_runs(tmp_path, monkeypatch):
    text = (Path(__file__).resolve().parent.parent / "docs" / "polyak.md").read_text()
    blocks = [b.split("```", 1)[0] for b in text.split("```python\n")[1:]]
    (block,) = [b for b in blocks if "load_state_dict(saved)" in b]
    monkeypatch.chdir(tmp_path)
    space = {}
    exec(compile(block, "docs/polyak.md", "exec"), space)
    opt, restored, params, loss_and_grads = space["opt"], space["restored"], space["params"], space["loss_and_grads"]
    other = {k: v.copy() for k, v in params.items()}
    for _ in range(5):
        loss, grads = loss_and_grads(params)
        opt.step(params, grads, loss)
        loss, grads = loss_and_grads(other)
        restored.step(other, grads, loss)
    assert all(params[k].tobytes() == other[k].tobytes() for k in params)
