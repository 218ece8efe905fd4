"""The documentation site (`make docs`) builds with warnings as errors: the user guide, the
API reference generated from the docstrings, and the gallery, which runs the fast examples
while it builds and shows what they print. Without the docs extra the test fails, it does not
skip: `make test` installs the extra."""
import importlib
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS_EXTRA = ("sphinx", "sphinx_gallery", "myst_parser", "furo")


def test_docs_build_with_warnings_as_errors(tmp_path):
    missing = [name for name in DOCS_EXTRA if importlib.util.find_spec(name) is None]
    if missing:
        pytest.fail(f"the docs extra is not installed (missing {', '.join(missing)}): "
                    "pip install -e '.[docs]' (make test installs it)")
    out = tmp_path / "html"
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html",
         "-d", str(tmp_path / "doctrees"), str(ROOT / "docs"), str(out)],
        env={**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"},
        capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    for page in ("index.html", "distributed.html", "guide/concepts.html", "guide/plugins.html",
                 "api/generated/optbench.run.html", "api/generated/optbench.Optimizer.html",
                 "api/generated/optbench.analysis.linear_rate.html",
                 "api/generated/optbench.report.build_report.html",
                 "api/generated/optbench.compare.compare_runs.html"):
        assert (out / page).is_file(), f"the build wrote no {page}"
    # the gallery ran the fast examples (their printed lines are on their pages) ...
    printed = {"lamb": "LAMB vs numpy: max relative difference",
               "warmup_schedule": "peak lr 0.05 at step 49",
               "user_problem": "gradient descent within its linear-rate bound: True"}
    for name, line in printed.items():
        assert line in (out / "auto_examples" / f"{name}.html").read_text(), name
    # ... and lists adabelief.py, which writes a whole report, without running it
    adabelief = (out / "auto_examples" / "adabelief.html").read_text()
    assert "AdaBelief" in adabelief and "max relative difference 0.00e+00" not in adabelief


#: public names the API reference leaves out: registries and constant tuples (documented in
#: their modules' text), the submodules themselves and the version string
UNDOCUMENTED = {"REGISTRY", "NOISE_KINDS", "CONVEX", "NONCONVEX", "CLASSES", "COCO_TARGETS",
                "AUTO", "ROUNDOFF_FACTOR", "TARGET_TAU", "__version__", "optimizers", "problems", "schedules", "analysis",
                "report", "compare"}


@pytest.mark.parametrize("module", ["optbench", "optbench.optimizers", "optbench.schedules",
                                    "optbench.problems", "optbench.analysis",
                                    "optbench.report", "optbench.compare"])
def test_the_api_reference_lists_every_public_name(module):
    """docs/api/*.rst name their entries by hand: a name added to a module's __all__ must be
    added there too (or to UNDOCUMENTED, with a reason)."""
    def entries(page):
        return set(re.findall(r"^   (\w+)$", (ROOT / "docs" / "api" / page).read_text(),
                              flags=re.M))

    mod, top = importlib.import_module(module), importlib.import_module("optbench")
    # Optimizer, hyper, Problem, Schedule are documented once, on the page of optbench
    listed = entries(f"{module.split('.')[-1]}.rst") | {
        name for name in entries("optbench.rst") if getattr(mod, name, None) is getattr(top, name)}
    public = set(mod.__all__) - UNDOCUMENTED
    assert public - listed == set(), f"docs/api: {module} misses {sorted(public - listed)}"
    assert listed - public == set(), f"docs/api: {module} lists {sorted(listed - public)}"
