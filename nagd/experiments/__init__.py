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
``run(config, seed) -> dict``
    One run: a pure function of the config and an integer seed returning small,
    JSON-serialisable metrics and curves. It may take a keyword-only
    ``checkpoint_dir`` argument, a per-run folder the runner provides for
    resuming long runs.
``report(runs, out_dir) -> str``
    Writes the section's tables (Markdown and CSV) and figures (PNG) into
    ``out_dir`` from stored runs only, and returns the section's Markdown for
    ``REPORT.md``. ``runs`` maps config name to the list of result dicts.

`SECTIONS` lists the section modules in report order (paper order: simple, layer_matching, mnist).
"""
SECTIONS = ()
