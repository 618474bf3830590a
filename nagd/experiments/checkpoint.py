"""The checkpoint of a training run: one versioned file, its writer and its reader.

A checkpoint is one file, ``checkpoint.bin``: a line with the sha256 (hex) of the payload, then
the payload, an ``.npz`` (read without pickle) of

* ``params``: the parameters;
* ``opt.<name>``: the optimizer's state arrays (the ``arrays`` of its
  `nagd.optim.Optimizer.state_dict`);
* ``meta``: UTF-8 JSON bytes of a dict with

  - ``format``: `FORMAT`; ``run``: the caller's identifier of the run (`nagd.experiments.mnist`
    stores a digest of config and seed); ``optimizer_class``;
  - ``optimizer``: the optimizer's scalar state (the ``state`` of its state_dict), and its
    settings under the names of its attributes (`_SETTINGS`), as format 3 always held them;
    the ``"auto"`` bound's estimate and settings under ``optimizer_objects`` instead, as
    ``{"lower_bound_rule": {"class": "LevelBound", "state": {...}}}``;
  - ``optimizer_hyperparameters``: the ``hyperparameters`` of its state_dict;
  - ``none_arrays``: the state arrays not yet made (no step taken);
  - ``generators``: the states of the random generators; ``history``: the caller's JSON data.

The optimizer is read and restored through its state protocol (`state_dict`,
`load_state_dict`), never through its attributes. What the formats were:

1. the optimizer's attributes of the time under ``optimizer`` and ``opt.<name>``, without
   ``format`` or ``optimizer_class``; three names have changed since (`_FORMAT_1_NAMES`);
2. also ``format`` and ``optimizer_class``;
3. also ``optimizer_objects``. Written from the optimizer's attributes until the state protocol,
   and since then from its state_dict as above, with ``optimizer_hyperparameters`` (a MoMo's
   working array ``opt._stats`` is no longer written).

Every format holds the optimizer's settings beside its state (``lr``, ``eps``, ``beta1`` ...:
`_SETTINGS`); a setting present must equal the run's (the run's config builds the optimizer),
a missing one is the run's. A hyperparameter added to a class since a checkpoint was written is
taken at its default (the behaviour of the time); at another value the checkpoint is refused.
Every state value must be present; an unknown name is refused.

`load` checks every value before it restores any, and restores a checkpoint whole or not at all.
"""
import hashlib
import inspect
import io
import json
import os
import warnings

import numpy as np

from ..optim import STATE_VERSION
from .runner.store import StoreError, TooLarge, quarantine, read_regular, write_atomic

__all__ = ["FORMAT", "FILE_NAME", "CheckpointWarning", "save", "load", "optimizer_section"]

FILE_NAME = "checkpoint.bin"

FORMAT = 3
"""The version `save` writes; `load` reads versions 1 to FORMAT (see the module docstring)."""

#: Names of format 1 that later formats call otherwise (old -> new).
_FORMAT_1_NAMES = {"level": "lower_bound_rule", "fstar": "lower_bound_estimate", "floor": "min_lower_bound"}

#: The settings that formats 1 to 3, written from the optimizer's attributes, stored beside its state,
#: by optimizer class. The run's config rebuilds them: present, they must equal the run's.
_POLYAK = ("alpha", "below", "eps", "lower_bound", "max_lr", "momentum", "record")
_SETTINGS = {
    "SGD": ("check_finite", "lower_bound", "lr", "momentum", "nesterov"),
    "ExpDecaySGD": ("check_finite", "lower_bound", "lr", "lr0", "momentum", "nesterov", "rate"),
    "AlphaMonitoredSGD": ("check_finite", "factor", "lower_bound", "lr_init", "momentum", "nesterov", "patience",
                          "threshold"),
    "Adam": ("beta1", "beta2", "check_finite", "eps", "lower_bound", "lr"),
    "RMSprop": ("alpha", "check_finite", "eps", "lower_bound", "lr"),
    "Adagrad": ("check_finite", "eps", "lower_bound", "lr"),
    "NaGD": _POLYAK,
    "PolyakSGD": _POLYAK,
    "ALIG": _POLYAK + ("adjusted_momentum",),
    "MoMo": ("below", "beta", "bias_correction", "lower_bound", "max_lr", "min_lower_bound", "record",
             "weight_decay"),
    "MoMoAdam": ("below", "beta", "beta1", "beta2", "bias_correction", "d", "divide", "eps", "lower_bound",
                 "max_lr", "min_lower_bound", "record", "weight_decay"),
}
#: The settings of a LevelBound that format 3, written from the attributes, stored beside its state.
_LEVEL_SETTINGS = ("delta0", "low", "high", "grow", "shrink")
#: Working arrays that formats 1 to 3 stored (recomputed by every step): ignored.
_SCRATCH = {"MoMo": ("_stats",), "MoMoAdam": ("_stats",)}

_OBJECTS = ("lower_bound_rule",)     # state saved under optimizer_objects when it is not None


class CheckpointWarning(UserWarning):
    """A checkpoint was corrupt or did not match the run; the run restarts from scratch."""


class _Newer(Exception):
    """A checkpoint written by a newer version: kept where it is, never replaced by a fresh start."""


def size_limit(params):
    """Bytes a checkpoint of these parameters may take: them, state arrays of 16 times their size, 64 MiB more."""
    return 17 * params.nbytes + (1 << 26)


def optimizer_section(optimizer):
    """The optimizer's part of a checkpoint: ``(meta entries, arrays)`` from its state_dict.

    Raises
    ------
    TypeError
        If the optimizer holds an attribute outside its state protocol, or a setting changed
        after construction (its state_dict could not restore it).
    """
    d = _state_dict(optimizer)
    settings = {k: getattr(optimizer, k) for k in _SETTINGS.get(d["class"], ())}
    scalars = {**settings, **{k: v for k, v in d["state"].items() if not (k in _OBJECTS and v is not None)}}
    objects = {k: {"class": "LevelBound", "state": {**{s: getattr(getattr(optimizer, k), s) for s in _LEVEL_SETTINGS},
                                                    **v}}
               for k, v in d["state"].items() if k in _OBJECTS and v is not None}
    arrays = {f"opt.{k}": v for k, v in d["arrays"].items() if v is not None}
    meta = {"optimizer_class": d["class"], "optimizer": scalars, "optimizer_objects": objects,
            "optimizer_hyperparameters": d["hyperparameters"],
            "none_arrays": [k for k, v in d["arrays"].items() if v is None]}
    return meta, arrays


def _state_dict(optimizer):
    try:
        return optimizer.state_dict()
    except (TypeError, ValueError) as exc:  # fail loudly: a resumed run would silently differ
        raise TypeError(f"cannot checkpoint {exc}") from None


def save(folder, run, params, optimizer, generators, history):
    """Write ``folder/checkpoint.bin`` atomically (a temporary file moved into place).

    Parameters
    ----------
    folder : str
    run : str
        Identifies the run (JSON string); `load` accepts the checkpoint only for it.
    params : ndarray
    optimizer : nagd.optim.Optimizer
        Saved through its state_dict.
    generators : list of numpy.random.Generator
    history : dict
        JSON data: the curves so far.

    Raises
    ------
    TypeError
        If the optimizer's state_dict cannot hold its state (nothing is written).
    nagd.experiments.runner.StoreError
        If the file cannot be written.
    """
    section, opt_arrays = optimizer_section(optimizer)
    meta = {"format": FORMAT, "run": run, **section,
            "generators": [g.bit_generator.state for g in generators], "history": history}
    buf = io.BytesIO()
    np.savez(buf, params=params, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), **opt_arrays)
    payload = buf.getvalue()
    blob = hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload
    path = os.path.join(folder, FILE_NAME)
    try:
        write_atomic(path, blob, prefix=".checkpoint.", suffix=".part")
    except OSError as exc:
        raise StoreError(f"cannot save checkpoint {path}: {exc.strerror or exc}") from None


def load(folder, runs, params, optimizer, generators, *, stacklevel=2):
    """Restore a checkpoint written by `save` (any format 1 to FORMAT) into params, optimizer and generators.

    Parameters
    ----------
    folder : str
    runs : sequence of str
        The run identifiers accepted (a run continuing a shorter one accepts both).
    params : ndarray
        Overwritten in place.
    optimizer : nagd.optim.Optimizer
        Built by the run (its hyperparameters); restored with ``load_state_dict``.
    generators : list of numpy.random.Generator
        Their states are restored.
    stacklevel : int, default 2
        Of the `CheckpointWarning`.

    Returns
    -------
    dict or None
        The history to resume from, or None when there is no usable checkpoint: none saved;
        or corrupt, another run's, or holding state this version does not hold (a name it lacks
        or does not know, an array of another shape or dtype, a value of another type, a
        setting other than the run's, a malformed generator state), with a `CheckpointWarning`:
        it is then moved into ``quarantine/`` beside it. Nothing is changed unless the
        checkpoint is restored whole.

    Raises
    ------
    nagd.experiments.runner.StoreError
        If the checkpoint exists but cannot be read (permissions, I/O error, a folder, FIFO or
        device in its place) or was written by a newer version: it is left as it is.
    TypeError
        If the optimizer's own state_dict fails (an attribute outside its state protocol).
    """
    path = os.path.join(folder, FILE_NAME)
    if not os.path.lexists(path):
        return None
    target = _state_dict(optimizer)       # what the run holds (raises for state it cannot save)
    blob = too_large = None
    try:
        blob = read_regular(path, size_limit(params))
    except TooLarge as exc:
        too_large = exc.size
    except FileNotFoundError:
        if not os.path.lexists(path):     # moved aside by a concurrent command: start afresh
            return None
        raise StoreError(f"cannot read checkpoint {path}: a symbolic link to nothing (kept as is: fix it or "
                         "move it away, then rerun)") from None
    except OSError as exc:   # unreadable is not corrupt: never overwrite what may be hours of training
        raise StoreError(f"cannot read checkpoint {path}: {exc.strerror or exc} (kept as is: fix it or "
                         "move it away, then rerun)") from None
    try:
        if too_large is not None:
            raise ValueError(f"it holds {too_large} bytes, more than a checkpoint of this run can")
        digest, _, payload = blob.partition(b"\n")
        if hashlib.sha256(payload).hexdigest().encode() != digest:
            raise ValueError("its sha256 does not match its content")
        with np.load(io.BytesIO(payload), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        meta = json.loads(arrays.pop("meta").tobytes().decode())
        if not isinstance(meta, dict):
            raise ValueError("its metadata is not a mapping")
        if meta["run"] not in runs:
            raise ValueError("it belongs to another config or seed")
        saved = arrays.pop("params")
        if saved.shape != params.shape or saved.dtype != params.dtype:
            raise ValueError(f"its parameters have shape {saved.shape} {saved.dtype}")
        state_dict = _restored_state(meta, arrays, optimizer, target, params)
        states = _generator_states(meta, generators)
        history = meta["history"]
        if not isinstance(history, dict) or not all(isinstance(k, str) and isinstance(v, list)
                                                    for k, v in history.items()):
            raise ValueError("its history is not a mapping of names to lists")
        optimizer.load_state_dict(state_dict)       # checks, then restores whole (or raises, unchanged)
    except _Newer as exc:   # progress a newer nagd can resume: never overwrite it
        raise StoreError(f"cannot resume from checkpoint {path}: {exc} (kept as is: resume it with that "
                         "version, or move it away to restart the run)") from None
    except Exception as exc:  # any damage: move it aside and start afresh rather than fail the run
        dest = quarantine(path, str(exc))
        where = f"moved to {dest}" if dest else "another process moved it aside first"
        warnings.warn(f"ignoring checkpoint {path}: {exc}; {where}, the run restarts from scratch",
                      CheckpointWarning, stacklevel=stacklevel)
        return None
    # everything was checked and the optimizer restored: the rest cannot fail
    params[...] = saved
    for g, state in zip(generators, states):
        g.bit_generator.state = state
    return history


def _restored_state(meta, arrays, optimizer, target, params):
    """The optimizer's state_dict from a checkpoint of any format; ValueError names the first mismatch.

    target is the state_dict of the run's optimizer: its hyperparameters, and the names of the
    state this version holds.
    """
    fmt = meta.get("format", 1)
    if isinstance(fmt, int) and not isinstance(fmt, bool) and fmt > FORMAT:
        raise _Newer(f"it has checkpoint format {fmt}; this version reads formats 1 to {FORMAT}")
    if not isinstance(fmt, int) or isinstance(fmt, bool) or fmt < 1:
        raise ValueError(f"it has checkpoint format {fmt!r}")
    name = target["class"]
    if meta.get("optimizer_class", name) != name:
        raise ValueError(f"it holds the state of a {meta['optimizer_class']}, not of a {name}")
    scalars, objects, none_arrays = meta["optimizer"], meta.get("optimizer_objects", {}), meta["none_arrays"]
    if not isinstance(scalars, dict) or not isinstance(objects, dict):
        raise ValueError("its optimizer state is not a mapping")
    if not isinstance(none_arrays, list):
        raise ValueError(f"its none_arrays is {none_arrays!r}, not a list")
    stored = {k[4:]: v for k, v in arrays.items() if k.startswith("opt.")}
    if fmt == 1:
        rename = _FORMAT_1_NAMES.get
        scalars = {rename(k, k): v for k, v in scalars.items()}
        none_arrays = [rename(k, k) if isinstance(k, str) else k for k in none_arrays]
        stored = {rename(k, k): v for k, v in stored.items()}
    array_names, scalar_names = set(target["arrays"]), set(target["state"])
    bad = [k for k in none_arrays if not isinstance(k, str) or k not in array_names]
    if bad:
        raise ValueError(f"its none_arrays names {bad!r}, which are not state arrays of a {name}")
    settings, scratch = set(_SETTINGS.get(name, ())), set(_SCRATCH.get(name, ()))
    names = set(scalars) | set(objects) | set(stored) | set(none_arrays)
    unknown = sorted(names - scalar_names - array_names - settings - scratch)
    missing = sorted((scalar_names | array_names) - names)
    if unknown or missing:
        raise ValueError(f"its {name} state does not match this version's (unknown: {unknown}, missing: {missing})")
    saved_hyper = meta.get("optimizer_hyperparameters")
    if saved_hyper is not None:
        run_hyper = json.loads(json.dumps(target["hyperparameters"]))
        if not isinstance(saved_hyper, dict):
            raise ValueError("its optimizer_hyperparameters is not a mapping")
        defaults = _defaults(type(optimizer))
        for key in sorted(set(saved_hyper) | set(run_hyper), key=str):
            if key not in saved_hyper and key in defaults and run_hyper[key] == defaults[key]:
                continue       # a hyperparameter added since, at the default that gives the old behaviour
            if saved_hyper.get(key, "(absent)") != run_hyper.get(key, "(absent)"):
                raise ValueError(f"its {name}.{key} is {saved_hyper.get(key, '(absent)')!r}, where this run has "
                                 f"{run_hyper.get(key, '(absent)')!r}")
    for key in sorted(settings & set(scalars)):
        _check_setting(f"{name}.{key}", scalars[key], getattr(optimizer, key))
    state = {}
    for key in scalar_names:
        if key in objects:
            state[key] = _level_state(f"{name}.{key}", objects[key], getattr(optimizer, key))
        else:
            state[key] = scalars[key]
            if key in _OBJECTS and scalars[key] is not None:
                raise ValueError(f"its {name}.{key} is {scalars[key]!r}, not None or a saved LevelBound")
    out_arrays = {}
    for key in array_names:
        if key in stored:
            value = stored[key]
            if value.shape != params.shape or value.dtype != params.dtype:   # state arrays are made like params
                raise ValueError(f"its {name}.{key} has shape {value.shape} {value.dtype}, expected "
                                 f"{params.shape} {params.dtype}")
            out_arrays[key] = value
        elif key in none_arrays or scalars.get(key, 0) is None:
            out_arrays[key] = None
        else:
            raise ValueError(f"its {name}.{key} is {scalars[key]!r}, where this version holds an array or None")
    return {"class": name, "version": STATE_VERSION,
            "hyperparameters": target["hyperparameters"], "state": state, "arrays": out_arrays}


def _defaults(cls):
    """The constructor defaults of an optimizer class, as plain JSON data."""
    out = {}
    for key, p in inspect.signature(cls.__init__).parameters.items():
        try:
            out[key] = json.loads(json.dumps(p.default))
        except (TypeError, ValueError):     # no default, or not plain data: never taken as a default
            pass
    return out


def _kind(value):
    if value is None:
        return "None"
    if isinstance(value, bool):
        return "a bool"
    if isinstance(value, (int, float)):
        return "a number"
    return f"a {type(value).__name__}"


def _check_setting(where, value, current):
    """A setting stored by formats 1 to 3 must be the run's (its type and value)."""
    if isinstance(current, bool) or isinstance(value, bool) or current is None or value is None:
        same = value is current or (isinstance(value, bool) and isinstance(current, bool) and value == current)
    elif isinstance(current, (int, float)):
        same = isinstance(value, (int, float)) and value == current
    else:
        same = type(value) is type(current) and value == current
    if not same:
        raise ValueError(f"its {where} is {value!r}, where this run has {current!r}")


def _level_state(where, saved, rule):
    """The "auto" bound's state from optimizer_objects: its state fields; settings, when present, the run's."""
    if rule is None or not isinstance(saved, dict) or saved.get("class") != "LevelBound" \
            or not isinstance(saved.get("state"), dict):
        raise ValueError(f"its {where} is a saved LevelBound, where this version holds {_kind(rule)}")
    values = saved["state"]
    fields = set(rule._state_fields)
    unknown, missing = sorted(set(values) - fields - set(_LEVEL_SETTINGS)), sorted(fields - set(values))
    if unknown or missing:
        raise ValueError(f"its {where} does not match a LevelBound's (unknown: {unknown}, missing: {missing})")
    for key in sorted(set(values) & set(_LEVEL_SETTINGS)):
        _check_setting(f"{where}.{key}", values[key], getattr(rule, key))
    return {k: values[k] for k in rule._state_fields}


def _generator_states(meta, generators):
    """The generators' states, each checked on a scratch generator of the same kind."""
    states = meta["generators"]
    if not isinstance(states, list) or len(states) != len(generators):
        raise ValueError(f"it has {len(states) if isinstance(states, list) else 'no list of'} random generators, "
                         f"expected {len(generators)}")
    for i, (g, state) in enumerate(zip(generators, states)):
        try:
            type(g.bit_generator)().state = state
        except (TypeError, ValueError, KeyError, IndexError, OverflowError) as exc:
            raise ValueError(f"its random generator {i} has a malformed state ({type(exc).__name__}: "
                             f"{str(exc)[:80]})") from None
    return states
