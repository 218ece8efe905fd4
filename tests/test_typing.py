"""The public modules (``optbench``, ``optbench.api``, ``optbench.results``) and the public
spec modules (``optbench.spec``, ``optbench.optimizers``, ``optbench.problems``,
``optbench.schedules``) pass ``mypy --strict`` as pyproject.toml's ``[tool.mypy]`` configures
it. mypy and pandas-stubs
come with the test extra (``make test``): without them the test fails, it does not skip."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_public_modules_pass_mypy_strict():
    if importlib.util.find_spec("mypy") is None:
        pytest.fail("mypy is not installed: pip install -e '.[test]' (make test installs it)")
    proc = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert proc.stdout.startswith("Success: no issues found in 16 source files"), proc.stdout
