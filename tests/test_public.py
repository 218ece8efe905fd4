"""One public surface: every name in ``optbench.__all__`` resolves from ``import optbench``;
the analysis, report and compare packages load on first use only."""
import subprocess
import sys

import pytest


def test_every_public_name_resolves_and_heavy_packages_load_lazily():
    code = ("import sys, optbench\n"
            "heavy = [m for m in ('optbench.analysis', 'optbench.report', 'optbench.compare', "
            "'scipy.stats', 'matplotlib') if m in sys.modules]\n"
            "names = [n for n in optbench.__all__ if getattr(optbench, n, None) is None]\n"
            "lazy = optbench.analysis.__name__, 'optbench.analysis' in sys.modules\n"
            "print(heavy, names, lazy)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[] [] ('optbench.analysis', True)"


def test_unknown_attribute_is_an_attribute_error():
    import optbench

    with pytest.raises(AttributeError, match="has no attribute 'analyses'"):
        optbench.analyses
