"""Sphinx configuration of the optbench documentation (``make docs``).

The API reference is generated from the docstrings (autodoc + autosummary, numpy-style
sections read by napoleon); the gallery runs the fast examples of ``examples/`` while the
documentation builds (sphinx-gallery) and lists ``examples/adabelief.py`` without running it,
since that one writes a whole report.
"""
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # document this tree's optbench, also without an install
os.environ.setdefault("MPLBACKEND", "Agg")

import optbench  # noqa: E402

project = "optbench"
author = "optbench developers"
copyright = "optbench developers"
release = version = optbench.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
myst_heading_anchors = 3

autosummary_generate = True
autosummary_imported_members = False
# ``rule`` of a built-in optimizer is its compiled kernel (optbench.kernels), not API
autodoc_default_options = {"members": True, "show-inheritance": True, "exclude-members": "rule"}
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # the signatures read better than the annotations' long types
napoleon_numpy_docstring = True
napoleon_google_docstring = False

sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    # run the examples that take seconds; adabelief.py writes a whole report: listed, not run
    "filename_pattern": r"/(lamb|warmup_schedule|user_problem)\.py$",
    "abort_on_example_error": True,
}



def _exit_zero_ends_the_example():
    """The examples end in ``raise SystemExit(main())``, which sphinx-gallery (it runs them as
    ``__main__``) does not catch: without this, ``SystemExit(0)`` ends the whole build with
    status 0 and no pages. Status 0 ends the example; any other fails it (and the build)."""
    from sphinx_gallery import gen_rst  # its private runner: sphinx-gallery is pinned

    class ExitZeroIsTheEnd(gen_rst._exec_once):
        def __call__(self):
            try:
                super().__call__()
            except SystemExit as exc:
                if exc.code not in (0, None):
                    raise RuntimeError(f"the example exited with status {exc.code}") from exc

    gen_rst._exec_once = ExitZeroIsTheEnd


_exit_zero_ends_the_example()

html_theme = "furo"
html_title = f"optbench {release}"
