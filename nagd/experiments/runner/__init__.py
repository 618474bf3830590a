"""Run an experiment suite and store every run, resumably.

A *run* is one call ``module.run(config, seed)``: a pure function of a config
(plain JSON data) and an integer seed, returning a small JSON-serialisable
dict. The runner

* derives each run's seed from ``numpy.random.SeedSequence`` and the base seed,
  the config and the run index, so a suite is deterministic given ``--seed``;
* stores every finished run at once as ``OUT/runs/<section>/<key>.json``, where
  ``key`` hashes (section, config, quick, seed); the file is written to a
  temporary name and moved into place with ``os.replace``, so a killed suite
  never leaves a partial file under a valid name;
* skips runs already stored, so an interrupted suite resumes where it stopped;
  a stored file that does not parse, fails its checksum or whose fields do not
  match its key is reported with a `CorruptResultWarning`, moved into a
  ``quarantine/`` folder beside it (with a ``.reason`` file) and run again;
* never deletes a stored file: a file it cannot read (permissions, I/O error, a
  folder in its place) or one of another format version stops the suite with a
  `StoreError` naming the file, before any run starts;
* executes runs in-process (``jobs=1``), on a local process pool (``jobs=N``)
  or on a Dask cluster (``scheduler="tcp://HOST:PORT"``);
* keeps going when a run raises: the failure (with its traceback) is returned
  in `SuiteResult.failures` and nothing else is lost.

Runs whose ``run`` function accepts a keyword ``checkpoint_dir`` get a per-run
folder ``OUT/checkpoints/<section>/<key>/`` to save partial state in.

==========  =====================================================================
module      contents
==========  =====================================================================
`keys`      `canonical` JSON, `run_seed`, `run_key`, `continued_config`
`planning`  `load_sections`, `targets`, `plan`, `scaled`, `check_overrides`, `Task`
`store`     `FORMAT`, `Run`, `write_atomic`, `load_runs`, the checks of a stored record, quarantine
`worker`    `execute` (one task) and the local process pool: its context, SIGTERM, orphans
`suite`     `run_suite`, `SuiteResult`
`cluster`   running on Dask, after a probe of the scheduler that unpickles nothing
==========  =====================================================================
"""
from .keys import canonical, continued_config, run_key, run_seed
from .planning import Task, check_overrides, load_sections, plan, scaled, section_name, targets
from .store import FORMAT, RECORD_LIMIT, CorruptResultWarning, Run, StoreError, load_runs, write_atomic
from .suite import SuiteResult, run_suite
from .worker import Terminated, execute

__all__ = [
    "CorruptResultWarning", "StoreError", "Terminated", "Task", "Run", "SuiteResult", "load_sections", "section_name", "targets",
    "plan", "scaled", "check_overrides", "run_suite", "execute", "load_runs", "run_seed", "run_key", "continued_config",
    "canonical", "write_atomic", "FORMAT", "RECORD_LIMIT",
]
