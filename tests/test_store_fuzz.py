"""Damaged stored runs: whatever happens to a run file, the store never hands back a run it did not write.

A run is stored through the real `save_run` (and so `write_atomic`); the file is then damaged (bytes
flipped, cut short, whitespace inserted, a field given a value of another type or removed, the
result changed under its checksum, the checksum replaced) and read back by `load_runs` and
`has_run`. Either the file is refused, with a `CorruptResultWarning` (`load_runs` skips it,
`has_run` moves it into ``quarantine/`` with a ``.reason``) or a `StoreError` that names it, or the
record read is the stored one, compared as canonical JSON (so ``1`` is not ``1.0`` nor ``true``).

The comparison is of the fields the store vouches for, those a report reads (see
`store._read_record`: config, mode, seeds and index through the key and the seed, the result through
its checksum). It leaves out ``name`` (a report never reads it; `has_run` compares it with the task,
so a changed name is rerun), ``elapsed_s`` (it only feeds time estimates) and any key a record of
format 1 does not have (a damaged key name, e.g. ``"elapsed_s "``, is ignored like any unknown key).
"""
import hashlib
import json
import os
import tempfile
import warnings

from hypothesis import given, settings
from hypothesis import strategies as st

from nagd.experiments.runner import store
from nagd.experiments.runner.keys import canonical, run_key, run_seed
from nagd.experiments.runner.planning import Task

SECTION = "fz"
VOUCHED = ("format", "section", "config", "quick", "base_seed", "index", "seed", "key", "result", "checksum")

_scalars = (st.none() | st.booleans() | st.integers(-10 ** 6, 10 ** 6)
            | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=6))
_json = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=8)


def _task(config, quick, base_seed, index):
    seed = run_seed(base_seed, config, index)
    return Task(module="fuzz_section", section=SECTION, name="cfg", config=config, quick=quick, base_seed=base_seed,
                index=index, seed=seed, key=run_key(SECTION, config, quick, seed))


def _read(path, mode="rb"):
    with open(path, mode) as fh:
        return fh.read()


def _call(fn, *args):
    """fn(*args), or the StoreError it raised, and the messages of the CorruptResultWarnings it gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = fn(*args)
        except store.StoreError as exc:
            value = exc
    return value, [str(w.message) for w in caught if issubclass(w.category, store.CorruptResultWarning)]


def _vouched(record):
    return canonical({k: record[k] for k in VOUCHED})


_WRONG = [None, True, False, 0, 1, -1, 1.0, 2.5, "", "1", [], {}]


@st.composite
def _damage(draw, data):
    """(what was done, the damaged bytes) for the stored bytes ``data``."""
    kind = draw(st.sampled_from(["flip", "truncate", "whitespace", "reformat", "wrong type", "drop field",
                                 "tamper result", "other checksum"]))
    record = json.loads(data)
    if kind == "flip":
        out = bytearray(data)
        for _ in range(draw(st.integers(1, 3))):
            out[draw(st.integers(0, len(out) - 1))] ^= draw(st.integers(1, 255))
        return kind, bytes(out)
    if kind == "truncate":
        return kind, data[:draw(st.integers(0, len(data) - 1))]
    if kind == "whitespace":
        at = draw(st.integers(0, len(data)))
        return kind, data[:at] + draw(st.sampled_from([b" ", b"\n", b"\t", b"\r\n  "])) + data[at:]
    if kind == "reformat":
        return kind, json.dumps(record, indent=draw(st.sampled_from([None, 1, 4]))).encode()
    field = draw(st.sampled_from(sorted(record)))
    if kind == "wrong type":
        value = record[field]
        record[field] = draw(st.sampled_from(_WRONG + [str(value), [value], {"v": value}]))
        kind += f" ({field}={record[field]!r})"
    elif kind == "drop field":
        del record[field]
        kind += f" ({field})"
    elif kind == "tamper result":
        record["result"] = draw(_json)
    else:
        record["checksum"] = hashlib.sha256(draw(st.binary(max_size=8))).hexdigest()
    return kind, json.dumps(record).encode()


@settings(max_examples=50, deadline=None)
@given(config=st.dictionaries(st.sampled_from(["lr", "epochs", "tags", "width"]), _json, max_size=3),
       result=_json, quick=st.booleans(), base_seed=st.integers(0, 2 ** 40), index=st.integers(0, 50),
       data=st.data())
def test_a_damaged_run_file_is_refused_or_reads_as_the_stored_run(config, result, quick, base_seed, index, data):
    task = _task(config, quick, base_seed, index)
    with tempfile.TemporaryDirectory() as out:
        store.save_run(out, task, result, 1.25)
        path = os.path.join(out, "runs", SECTION, task.key + ".json")
        stored = _read(path)
        [original] = store.load_runs(out, SECTION)
        assert store.Run.from_record(original) == store.Run(config, task.seed, result)
        kind, damaged = data.draw(_damage(stored), label="damage")
        store.write_atomic(path, damaged)

        loaded, warned = _call(store.load_runs, out, SECTION)
        if isinstance(loaded, store.StoreError):
            assert path in str(loaded) and "format" in str(loaded), (kind, loaded)
        elif loaded:
            [record] = loaded
            assert _vouched(record) == _vouched(original) and not warned, kind
        else:
            [warning] = warned
            assert path in warning and "corrupt" in warning, (kind, warning)

        kept, warned = _call(store.has_run, out, task)
        if isinstance(loaded, store.StoreError):
            assert isinstance(kept, store.StoreError) and path in str(kept), kind
        elif kept is True:
            assert loaded and _read(path) == damaged, kind
        else:
            # refused by has_run: skipped by load_runs too, unless only the name (never read by a report) changed
            assert kept is False and (not loaded or loaded[0]["name"] != task.name), kind
            moved = os.path.join(out, "runs", SECTION, "quarantine", task.key + ".json")
            assert not os.path.lexists(path) and _read(moved) == damaged, kind
            reason = _read(moved + ".reason", "r")
            [warning] = warned
            assert "moved to" in warning and moved in warning and task.key + ".json: " in reason, kind
            assert store.load_runs(out, SECTION) == []


def test_a_format_field_of_another_type_is_corrupt_not_format_1():
    # true == 1 and 1.0 == 1 in Python: the format check must look at the type, as every other field's does
    task = _task({"lr": 0.5}, False, 0, 0)
    for value in (True, 1.0):
        with tempfile.TemporaryDirectory() as out:
            store.save_run(out, task, {"value": 1.0}, 0.5)
            path = os.path.join(out, "runs", SECTION, task.key + ".json")
            record = json.loads(_read(path))
            record["format"] = value
            store.write_atomic(path, json.dumps(record))
            loaded, [warning] = _call(store.load_runs, out, SECTION)
            assert loaded == [] and "bad format field" in warning, value
