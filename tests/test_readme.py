"""The README stays true: every Python block runs, every TOML block is a valid suite, every
`optbench ...` command parses with the CLI's own parser, and every `make` target, script and
suite file it names exists."""
import re
import shlex
import sys
import warnings
from pathlib import Path

import pytest

from optbench.analysis.questions import parse_questions
from optbench.cli import build_parser
from optbench.suite import parse_suite

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"^```(\w+)\n(.*?)^```$", README, flags=re.S | re.M)
PYTHON = [code for lang, code in BLOCKS if lang == "python"]
PLACEHOLDERS = {"SUITE": "problems/smoke.toml", "SUITE.toml": "problems/smoke.toml"}

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def _commands():
    """Every `optbench ...` and `make ...` command: lines of sh blocks and inline code."""
    lines = [line.split("#")[0].strip() for lang, code in BLOCKS if lang == "sh"
             for line in code.splitlines()]
    lines += re.findall(r"`((?:optbench|make) [^`]+)`", README)
    return [line for line in lines if line.startswith(("optbench ", "make "))]


@pytest.mark.parametrize("index", range(len(PYTHON)))
def test_python_block_runs(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # run directories the tour writes land here
    namespace = {"__name__": f"readme_block_{index}"}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        exec(compile(PYTHON[index], f"README.md python block {index}", "exec"), namespace)
    if index == 0:  # the quick tour's settings converge (a diverging one would warn)
        assert not [w for w in caught if issubclass(w.category, RuntimeWarning)], caught
    assert len(namespace) > 2  # it defined or computed something


def test_the_readme_has_its_blocks():
    assert len(PYTHON) >= 3 and any(lang == "toml" for lang, _ in BLOCKS)
    assert len(_commands()) >= 10


def test_toml_blocks_are_valid_suites():
    for lang, code in BLOCKS:
        if lang != "toml":
            continue
        data = tomllib.loads(code)
        if set(data) == {"questions"}:  # a suite's questions shown alone
            assert parse_questions(data["questions"])
            continue
        suite = parse_suite(data)
        assert suite["problems"] and suite["optimizers"]


def test_commands_parse_and_name_what_exists():
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([\w-]+):", makefile, flags=re.M))
    for command in _commands():
        words = shlex.split(command.replace("<", "").replace(">", ""))
        if words[0] == "make":
            target = next(w for w in words[1:] if "=" not in w)
            assert target in targets, f"README names `make {target}`, not in the Makefile"
            continue
        # placeholders (SUITE, RUN, ...) and alternatives (cuda|cpu) as a user fills them in
        words = [PLACEHOLDERS.get(w, "runs/x" if re.fullmatch(r"[A-Z_]+", w) else w)
                 .split("|")[0] for w in words]
        try:
            build_parser(words[1:]).parse_args(words[1:])
        except SystemExit as exc:
            pytest.fail(f"README command does not parse: {command} (exit {exc.code})")
        for word in words[1:]:
            if word.endswith(".toml"):
                assert (ROOT / word).exists(), f"README names {word}, which does not exist"
    for script in re.findall(r"`python ((?:benchmarks|scripts|examples)/[\w/]+\.py)", README):
        assert (ROOT / script).exists(), f"README names {script}, which does not exist"
