"""Every folder under tests/diagnostics/ is one case (sqlc style): ``main.sfidl`` and the
files it imports, and ``expected.txt``, the rendered errors (or warnings) of loading it
with the case folder as the working directory. Cases named ``lint_*`` run every lint rule.

    SFIDL_UPDATE_GOLDENS=1 pytest tests/test_diagnostics.py   # rewrite expected.txt
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sfidl.check.lint import RULE_IDS
from sfidl.diagnostics import CompileError
from sfidl.frontend import load_program
from tests.golden import assert_golden

CASES = sorted(p for p in (Path(__file__).parent / "diagnostics").iterdir() if p.is_dir())


def render(case: Path) -> str:
    """What a user sees for the case: the errors, or the warnings and `ok`."""
    try:
        loaded = load_program(Path("main.sfidl"), RULE_IDS if case.name.startswith("lint_") else ())
    except CompileError as error:
        return error.render() + "\n"
    warnings = [w.render(loaded.sources) + "\n" for w in loaded.warnings]
    return "".join(warnings) + "ok\n"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case(case: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(case)
    # Anything but CompileError (a traceback) fails the test here.
    assert_golden(case / "expected.txt", render(case))


def test_every_case_has_an_expectation() -> None:
    assert CASES
    for case in CASES:
        assert (case / "main.sfidl").is_file(), case


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_mangled_inputs_give_diagnostics_not_tracebacks(
    case: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each case's main file with one line dropped, or cut short, still fails cleanly."""
    for other in case.rglob("*.sfidl"):
        target = tmp_path / other.relative_to(case)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(other.read_bytes())
    monkeypatch.chdir(tmp_path)
    text = (case / "main.sfidl").read_bytes()
    lines = text.splitlines(keepends=True)
    variants = [b"".join(lines[:i] + lines[i + 1 :]) for i in range(len(lines))]
    # Every 11th cut; about 300 for a large case (name_too_long's names are 16,400 long).
    variants += [text[:cut] for cut in range(0, len(text), max(11, len(text) // 300))]
    for variant in variants:
        (tmp_path / "main.sfidl").write_bytes(variant)
        try:
            load_program(Path("main.sfidl"))
        except CompileError as error:
            assert error.diagnostics, variant
