"""The paper's experiment suite.

One module per paper section. Each defines

``CONFIGS``
    ``{config_name: config}``: the full-size runs, as plain JSON-serialisable data.
    A config is a dict that holds everything a run depends on (``"runs"``, the
    number of repetitions with different seeds, included).
``QUICK``
    The same keys, cut down so the whole module runs in seconds to minutes.
``TARGETS``
    ``{target_name: [config_name, ...]}``: what ``nagd reproduce TARGET`` runs
    (the paper's tables and figures, e.g. ``"table1"``, ``"fig4"``).
``PUBLISHED``
    The paper's numbers, as data.
``SCALABLE`` (optional)
    The config keys that ``nagd reproduce --runs N`` / ``--epochs N`` may set, e.g.
    ``("runs", "epochs")``; a section without it refuses both options.
``run(config, seed) -> dict``
    One run: a pure function of the config and an integer seed returning small,
    JSON-serialisable metrics and curves. It may take a keyword-only
    ``checkpoint_dir`` argument, a per-run folder the runner provides for
    resuming long runs.
``report(runs, out_dir) -> str``
    Writes the section's tables (Markdown and CSV) and figures (PNG) into
    ``out_dir`` from stored runs only, and returns the section's Markdown for
    ``REPORT.md``. ``runs`` maps config name to the list of its stored runs, in run
    order, each a `runner.Run` record: ``config`` (the config that ran: full or quick,
    with any ``--runs``/``--epochs`` overrides), ``seed`` and ``result`` (what ``run``
    returned), so a report describes what ran from ``config``, never from the
    module's ``CONFIGS``. ``out_dir`` is ``OUT/<section>/`` and ``REPORT.md`` is in
    ``OUT``, so links in the Markdown are ``report.link(out_dir, "fig.png")``;
    ``report.markdown_table``, ``report.write_csv`` and ``report.vs_paper``
    (``ours (paper X, +d%)``) keep tables alike. A config may be missing from
    ``runs`` (not reproduced yet): skip what it feeds. All runs of one config come
    from one mode (full or quick) and one base seed; ``REPORT.md`` states which,
    above the section's Markdown.

Runner (``nagd.experiments.runner``): ``config["runs"]`` runs per config, run ``i``
gets the seed ``runner.run_seed(base_seed, config, i)``; each finished run is stored
as JSON under ``OUT/runs/<section>/`` keyed by a hash of (section, config, quick,
seed), so target names must be unique across sections and editing a config makes
its old runs stale (they are no longer reported). ``nagd reproduce TARGET...``,
``nagd report``, ``nagd list`` (``nagd.experiments.cli``) work for every module
named in `SECTIONS`, with no per-section code.

`SECTIONS` lists the section modules in report order (paper order: simple, layer_matching, mnist).
"""
SECTIONS = ("simple", "layer_matching", "mnist")
