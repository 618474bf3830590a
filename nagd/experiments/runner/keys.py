"""Run keys and seeds: canonical JSON of plain data, its hash, and each run's seed and key."""
import hashlib
import json

import numpy as np

__all__ = ["canonical", "continued_config", "run_seed", "run_key"]


def is_int(value):
    """True for an ``int`` that is not a ``bool`` (the integers of stored records and seeds)."""
    return isinstance(value, int) and not isinstance(value, bool)


def canonical(obj):
    """Deterministic JSON text of plain data (sorted keys, no whitespace).

    Parameters
    ----------
    obj : JSON data
        Dicts, lists, strings, numbers, booleans and None; no NaN or infinity.

    Returns
    -------
    str

    Raises
    ------
    TypeError, ValueError
        For anything that is not JSON data, or a NaN or infinite float.
    """
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _digest(obj):
    return hashlib.sha256(canonical(obj).encode()).hexdigest()


def continued_config(config):
    """The config of the shorter run that ``config`` continues, or None.

    A config with ``"continues": E`` (a number of epochs) extends the run of the same config at
    ``E`` epochs: it has that run's seed (`run_seed`), so it trains exactly as that run did, and it
    may start from that run's last checkpoint (`execute`). Its result is the result a run of
    ``config["epochs"]`` epochs from scratch would give.

    Parameters
    ----------
    config : dict

    Returns
    -------
    dict or None
        ``config`` without ``"continues"`` and with ``"epochs"`` set to its value.
    """
    if "continues" not in config:
        return None
    shorter = {k: v for k, v in config.items() if k != "continues"}
    shorter["epochs"] = config["continues"]
    return shorter


def run_seed(base_seed, config, index):
    """Seed of run ``index`` of ``config``: from ``SeedSequence(base_seed)`` keyed by the config.

    A config that continues a shorter run (`continued_config`) has the shorter run's seed.

    Parameters
    ----------
    base_seed : int
        The suite's ``--seed``.
    config : dict
        The run's config (plain JSON data).
    index : int
        The run's number within the config, from 0.

    Returns
    -------
    int
        A 63-bit non-negative integer, a pure function of its arguments.
    """
    config = continued_config(config) or config
    config_words = [int(_digest(config)[i:i + 8], 16) for i in range(0, 16, 8)]
    ss = np.random.SeedSequence(int(base_seed), spawn_key=(*config_words, int(index)))
    return int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1))


def run_key(section, config, quick, seed):
    """File key of one run: a hash of (section, config, quick, seed).

    Parameters
    ----------
    section : str
        Short section name.
    config : dict
    quick : bool
    seed : int

    Returns
    -------
    str
        24 hexadecimal digits.
    """
    return _digest({"section": section, "config": config, "quick": bool(quick), "seed": int(seed)})[:24]
