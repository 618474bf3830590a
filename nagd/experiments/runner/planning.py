"""Sections, targets and the plan: which runs ``nagd reproduce TARGET...`` needs, with their seeds and keys."""
import importlib
from dataclasses import dataclass

import numpy as np

from ..._validation import positive_int
from .keys import is_int, run_key, run_seed

__all__ = ["Task", "section_name", "load_sections", "targets", "scaled", "check_overrides", "plan"]

_EXPERIMENTS = __package__.rpartition(".")[0]
"""``nagd.experiments``: the package of the section modules."""


def section_name(module):
    """Return the short name of a section module (``nagd.experiments.simple`` -> ``simple``).

    Parameters
    ----------
    module : module

    Returns
    -------
    str
    """
    name = module.__name__
    prefix = _EXPERIMENTS + "."
    return name[len(prefix):] if name.startswith(prefix) else name


def load_sections(names=None):
    """Import the section modules listed in ``nagd.experiments.SECTIONS`` (or in ``names``).

    Parameters
    ----------
    names : sequence of str, optional
        Module names: a bare name is looked up in ``nagd.experiments``, a dotted name
        is imported as is. Default: ``nagd.experiments.SECTIONS`` at call time.

    Returns
    -------
    dict
        ``{short_name: module}`` in the given order.

    Raises
    ------
    ValueError
        If two sections define the same target name.
    """
    if names is None:
        names = importlib.import_module(_EXPERIMENTS).SECTIONS
    modules = {}
    for name in names:
        module = importlib.import_module(name if "." in name else f"{_EXPERIMENTS}.{name}")
        modules[section_name(module)] = module
    targets(modules)  # checks that target names are unique
    return modules


def targets(sections):
    """Return ``{target: (section_name, [config_name, ...])}`` over all sections.

    Parameters
    ----------
    sections : dict
        ``{short_name: module}``, as returned by `load_sections`.

    Returns
    -------
    dict

    Raises
    ------
    ValueError
        If a target name appears in two sections, or names an unknown config.
    """
    out = {}
    for sname, module in sections.items():
        for target, names in module.TARGETS.items():
            if target in out:
                raise ValueError(f"target {target!r} is defined by both {out[target][0]!r} and {sname!r}")
            unknown = [n for n in names if n not in module.CONFIGS]
            if unknown:
                raise ValueError(f"target {target!r} of section {sname!r} names unknown configs {unknown}")
            out[target] = (sname, list(names))
    return out



@dataclass(frozen=True)
class Task:
    """One run to execute (everything a worker needs, all picklable)."""

    module: str          # importable module name of the section
    section: str
    name: str            # config name
    config: dict
    quick: bool
    base_seed: int
    index: int
    seed: int
    key: str



def scaled(config, overrides=None):
    """Return config with the keys of overrides replaced (a new dict), or config itself when there are none.

    Parameters
    ----------
    config : dict
    overrides : dict or None
        ``{key: value}``, e.g. ``{"epochs": 10}`` from ``nagd reproduce --epochs 10``.

    Returns
    -------
    dict
        A config that continued a shorter run (``"continues"``) and gets a new number of
        epochs is a run of its own, from scratch: ``"continues"`` is dropped.
    """
    if not overrides:
        return config
    out = dict(config, **overrides)
    if "epochs" in overrides and "continues" in config:
        del out["continues"]
    return out


def check_overrides(sections, target_names, overrides):
    """Refuse overrides that a chosen target's section does not declare in its ``SCALABLE``.

    Parameters
    ----------
    sections : dict
        ``{short_name: module}``.
    target_names : sequence of str
        Target names, or ``"all"``.
    overrides : dict or None
        ``{config_key: positive int}``.

    Raises
    ------
    ValueError
        Naming the option, the target that does not take it and the targets that do, or for a
        value that is not a positive integer.
    """
    if not overrides:
        return
    table = targets(sections)
    chosen = list(table) if "all" in target_names else [t for t in target_names if t in table]
    for key, value in overrides.items():
        positive_int(f"--{key}", value)
        allowed = sorted(t for t, (sname, _) in table.items() if key in getattr(sections[sname], "SCALABLE", ()))
        for t in chosen:
            if key not in getattr(sections[table[t][0]], "SCALABLE", ()):
                raise ValueError(f"--{key} does not apply to target {t!r}; it applies to: "
                                 f"{', '.join(allowed) or 'no target'}")


def plan(sections, target_names, quick=False, base_seed=0, overrides=None):
    """List the runs that ``nagd reproduce TARGET...`` needs, without running anything.

    Parameters
    ----------
    sections : dict
        ``{short_name: module}`` as from `load_sections`.
    target_names : sequence of str
        Target names, or ``"all"`` for every target of every section.
    quick : bool
        Use each module's ``QUICK`` configs instead of ``CONFIGS``.
    base_seed : int
        The suite's seed (``--seed``).
    overrides : dict, optional
        ``{config_key: value}`` set in every chosen config (``--runs``, ``--epochs``); every
        chosen target's section must list the keys in its ``SCALABLE``.

    Returns
    -------
    list of Task

    Raises
    ------
    ValueError
        For an unknown target (the message lists the valid ones), or overrides a target does
        not take.
    """
    if not is_int(base_seed) and not isinstance(base_seed, np.integer) or base_seed < 0:
        raise ValueError(f"base_seed must be a non-negative integer, got {base_seed!r}")
    table = targets(sections)
    chosen = []
    for t in target_names:
        if t == "all":
            chosen.extend(table)
        elif t in table:
            chosen.append(t)
        else:
            raise ValueError(f"unknown target {t!r}; valid targets: {', '.join(sorted(table) + ['all'])}")
    check_overrides(sections, target_names, overrides)
    tasks, seen = [], set()
    for t in chosen:
        sname, names = table[t]
        module = sections[sname]
        source = module.QUICK if quick else module.CONFIGS
        for name in names:
            if (sname, name) in seen:
                continue
            seen.add((sname, name))
            config = scaled(source[name], overrides)
            for index in range(int(config.get("runs", 1))):
                seed = run_seed(base_seed, config, index)
                tasks.append(Task(module.__name__, sname, name, config, bool(quick), int(base_seed),
                                  index, seed, run_key(sname, config, quick, seed)))
    return tasks
