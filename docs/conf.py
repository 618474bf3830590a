"""Sphinx configuration of the nagd documentation.

Build with ``make -C docs html`` (warnings are errors). The API pages under
``api/`` are generated at build time from the ``__all__`` of each public
module, so a new public name is documented (and its docstring validated by
numpydoc) without editing this folder.
"""
import importlib
import os
import pkgutil
import re
import shutil
import sys

import matplotlib
from sphinx.util import logging

matplotlib.use("Agg")
logger = logging.getLogger(__name__)

import nagd  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))

project = "nagd"
author = "the nagd developers"
copyright = "2026, the nagd developers"
release = version = nagd.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # serves MathJax from _static/mathjax: the math renders offline
    "sphinx.ext.intersphinx",
    "numpydoc",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
# The report's per-section tables (report/<section>/*.md) are linked from REPORT.md, not pages.
exclude_patterns = ["_build", "api/generated/*.md", "report/*/*.md", "Thumbs.db", ".DS_Store"]
templates_path = ["_templates"]
html_static_path = ["_static"]

html_theme = "pydata_sphinx_theme"
html_title = f"nagd {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_sidebars = {"**": ["sidebar-nav-bs"]}

# Markdown pages (MyST): $...$ and $$...$$ math, ::: fences, heading anchors for links.
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# API reference: autosummary pages, numpydoc rendering and validation.
autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"members": False}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
# A sensible subset of numpydoc's checks, enforced (as warnings, so as errors under -W) on every
# documented public object: a docstring exists and starts with a one-line summary; every parameter
# is documented and none that does not exist, in order; sections are known
# and in order.
numpydoc_validation_checks = {
    "GL08",  # the object has no docstring
    "GL06",  # unknown section
    "GL07",  # sections in the wrong order
    "SS01",  # no summary
    "PR01",  # parameters not documented
    "PR02",  # unknown parameters documented
    "PR03",  # parameters in the wrong order
}
numpydoc_validation_exclude = {
    r"^nagd\.kernels\.",  # kernels carry a one-line docstring (the equation), by design
    r"\.__init__$",
    r"\.__repr__$",
}

# Private base classes appear in "Bases:" lines but have no page of their own.
nitpick_ignore_regex = [("py:class", r"nagd\..*\._\w+")]

intersphinx_mapping = {}  # no network at build time: no cross-project links

# Three kinds of public objects are documented in a form numpydoc's checks do not read, so they
# are not validated: Numba-compiled functions, whose module docstring states the shared signature
# (e.g. every test problem is ``fun(x) -> float``) and whose own docstring is the equation; named
# tuples, whose fields are listed under "Attributes" rather than as constructor parameters; and
# module-level data (dicts, tuples, numbers), documented by the string that follows them.
def _documented_elsewhere():
    names = []
    for modname in ["nagd.kernels", "nagd.nn.kernels"] + [m for m, _ in API_MODULES]:
        try:
            module = importlib.import_module(modname)
        except ImportError:
            continue
        for name, obj in vars(module).items():
            compiled = hasattr(obj, "py_func") and getattr(obj.py_func, "__module__", None) == modname
            named_tuple = isinstance(obj, type) and issubclass(obj, tuple) and hasattr(obj, "_fields")
            data = not callable(obj) and type(obj).__name__ != "module"
            if (compiled or named_tuple or data) and not name.startswith("_"):
                names.append(rf"^{re.escape(modname)}\.{name}$")
    return names


# Titles of the API pages, in reading order; every other public module (no leading underscore
# in its dotted name) found in the package gets a page too, after these.
API_TITLES = {
    "nagd": "Top level",
    "nagd.optim": "Optimizers",
    "nagd.optim.presets": "Polyak-step presets",
    "nagd.diagnostics": "Diagnostics",
    "nagd.kernels": "Numba kernels",
    "nagd.problems": "Test problems",
    "nagd.nn": "Neural networks",
    "nagd.nn.layers": "Layers",
    "nagd.nn.losses": "Losses",
    "nagd.nn.train": "Training loops",
    "nagd.nn.model": "The flat-buffer model",
    "nagd.nn.conv_kernels": "Convolution and pooling kernels",
    "nagd.nn.kernels": "Element-wise, dense and loss kernels",
    "nagd.nn.gradcheck": "Gradient checks",
    "nagd.datasets": "Data sets",
    "nagd.datasets.idx": "The IDX file format",
    "nagd.datasets.mnist": "MNIST and Fashion-MNIST",
    "nagd.datasets.fetch": "Downloading MNIST",
    "nagd.data": "Data sets (the old name)",
    "nagd.experiments": "Experiments",
    "nagd.experiments.simple": "Section 2: simple functions",
    "nagd.experiments.layer_matching": "Section 3: layer matching",
    "nagd.experiments.mnist": "Section 4: MNIST",
    "nagd.experiments.published": "The paper's numbers",
    "nagd.experiments.polyak_eval": "Evaluation of the Polyak family",
    "nagd.experiments.plotting": "Plotting",
    "nagd.experiments.runner": "Experiment runner",
    "nagd.experiments.report": "Report writer",
    "nagd.experiments.cli": "Command line",
}


def _api_modules():
    """Return [(module name, page title)] for every public module of nagd."""
    found = {"nagd"}
    for info in pkgutil.walk_packages(nagd.__path__, "nagd."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            found.add(info.name)
    names = [m for m in API_TITLES if m in found] + sorted(found - set(API_TITLES))
    return [(m, API_TITLES.get(m)) for m in names]


API_MODULES = _api_modules()

numpydoc_validation_exclude |= set(_documented_elsewhere())
# The experiment modules are the reproduction suite behind ``nagd reproduce``: their contract is
# documented in `nagd.experiments`, and their functions carry one-line docstrings. They are listed
# in the API reference and must have docstrings (checked below), but numpydoc's section checks
# apply to the library modules only.
numpydoc_validation_exclude.add(r"^nagd\.experiments\.\w+\.")

# Modules kept under an old name: their page is their docstring (pointing to the new name), and
# their names are documented once, under the new one.
API_ALIASES = {"nagd.data"}

# Pages other parts of the project write; each is in the toctree once it exists.
OPTIONAL_PAGES = ["algorithm", "polyak"]


def _public_names(module):
    names = getattr(module, "__all__", None)
    if names is None:  # no __all__: the functions and classes the module defines itself
        names = [n for n, obj in vars(module).items()
                 if getattr(getattr(obj, "py_func", obj), "__module__", None) == module.__name__
                 and callable(obj)]
    out = []
    for name in names:
        obj = getattr(module, name, None)
        if name.startswith("_") or obj is None or type(obj).__name__ == "module":
            continue
        out.append(name)
    return out


def _write_api_pages(app, config):
    """Write api/<module>.rst for every importable public module, and api/index.rst."""
    api_dir = os.path.join(HERE, "api")
    shutil.rmtree(api_dir, ignore_errors=True)  # no stale pages of renamed or moved names
    os.makedirs(api_dir)
    modules = []
    for modname, title in API_MODULES:
        try:
            modules.append((modname, title, importlib.import_module(modname)))
        except ModuleNotFoundError as exc:
            if exc.name != modname:  # the module exists but one of its imports is missing
                logger.warning(f"API page of {modname} skipped: {exc}")
    # A name re-exported by a package is documented once, on the page of the module that has it.
    elsewhere = {}
    for modname, _, module in modules:
        for name in _public_names(module):
            elsewhere.setdefault(id(getattr(module, name)), []).append(modname)
    entries = []
    for modname, title, module in modules:
        names = [n for n in _public_names(module)
                 if not any(m.startswith(modname + ".") for m in elsewhere[id(getattr(module, n))])
                 and modname not in API_ALIASES]
        for name in names:
            obj = getattr(module, name)
            if callable(obj) and not (getattr(getattr(obj, "py_func", obj), "__doc__", None) or "").strip():
                logger.warning(f"{modname}.{name} is public (in __all__) but has no docstring")
        heading = f"{title}: ``{modname}``" if title else f"``{modname}``"
        lines = [heading, "=" * len(heading), "",
                 f".. automodule:: {modname}", "   :no-members:", ""]
        if names:
            lines += [f".. currentmodule:: {modname}", "", ".. autosummary::",
                      "   :toctree: generated", "   :nosignatures:", ""]
            lines += [f"   {name}" for name in names]
            lines.append("")
        text = "\n".join(lines)
        path = os.path.join(api_dir, modname.replace(".", "_") + ".rst")
        _write_if_changed(path, text)
        entries.append(os.path.basename(path)[:-4])
    index = ["API reference", "=============", "",
             "Every public name of nagd, generated from its docstring.", "",
             ".. toctree::", "   :maxdepth: 1", ""] + [f"   {e}" for e in entries] + [""]
    _write_if_changed(os.path.join(api_dir, "index.rst"), "\n".join(index))


def _write_if_changed(path, text):
    try:
        with open(path, encoding="utf-8") as fh:
            if fh.read() == text:
                return
    except FileNotFoundError:
        pass
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)


def _optional_pages(app, docname, source):
    """Replace the marker in index.md by the optional pages that exist."""
    if docname != "index":
        return
    present = [p for p in OPTIONAL_PAGES if os.path.exists(os.path.join(HERE, p + ".md"))]
    source[0] = source[0].replace("OPTIONAL_PAGES", "\n".join(present))


def _escape_kernel_docstrings(app, what, name, obj, options, lines):
    """Kernel docstrings are plain-text equations: keep ``|x|`` from reading as a substitution."""
    if name.startswith("nagd.kernels."):
        lines[:] = [line.replace("|", "\\|") for line in lines]


def _report_links(app, docname, source):
    """In the stored report, link the per-section Markdown tables as files to download."""
    if docname == "report/REPORT":
        source[0] = re.sub(r"\[([^\]]+)\]\((\w+/[\w.-]+\.md)\)", r"{download}`\1 <\2>`", source[0])


def setup(app):
    app.connect("source-read", _report_links)
    # Before Sphinx lists the source files, so autosummary writes the stubs of new pages.
    app.connect("config-inited", _write_api_pages)
    app.connect("autodoc-process-docstring", _escape_kernel_docstrings)
    app.connect("source-read", _optional_pages)
