"""Every folder under tests/cases/ is one case (sqlc style); tests/cases/README.md says what
a folder may hold. This module runs them all:

- ``expected.txt``: the rendered diagnostics of loading the root file (cases named
  ``lint_*`` run every lint rule), or its warnings followed by ``ok``;
- ``gen/``: goldens of the compiled outputs (.proto, stubs, module.yaml, ...), byte for
  byte, whichever files are there; ``graph.mmd`` and ``graph.dot``: `sfidl graph`'s pictures;
- ``*.py``: application files checked by ``mypy --strict`` against the compiled outputs;
  a line marked ``# E: <fragment>`` must get an error containing the fragment (message or
  ``[code]``; several marks for several errors), every other line none.

    SFIDL_UPDATE_CASES=1 .venv/bin/pytest tests/test_cases.py

rewrites every expected file from what the compiler does now (a case folder with only its
.sfidl gets ``expected.txt`` when it fails, ``gen/`` when it compiles); review the diff by
eye. The app files' marks are never rewritten. mypy runs once over the app files of every case,
under a deadline.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from sfidl.check.lint import RULE_IDS
from sfidl.compiler import Compiled, compile_file
from sfidl.diagnostics import CompileError
from sfidl.frontend import load_program
from sfidl.tools.graph import build_graph
from sfidl.tools.graph_render import to_dot, to_mermaid

REPO = Path(__file__).resolve().parent.parent
CASES_DIR = REPO / "tests" / "cases"
CASES = sorted(p for p in CASES_DIR.iterdir() if p.is_dir())
# SFIDL_UPDATE_GOLDENS is the project's switch for every other golden file.
UPDATE = "1" in (os.environ.get("SFIDL_UPDATE_CASES"), os.environ.get("SFIDL_UPDATE_GOLDENS"))
# Outputs that are protoc's and mypy-protobuf's, not sfidl's: a new case does not pin them.
NOT_PINNED = re.compile(r".*_pb2\.pyi?")
GRAPHS = {"graph.mmd": to_mermaid, "graph.dot": to_dot}
MYPY_DEADLINE_SECONDS = 300

MARK = re.compile(r"#\s*E:\s*")
MYPY_LINE = re.compile(
    r"(?P<file>[^:\s]+\.pyi?):(?P<line>\d+): (?P<level>error|note): (?P<text>.*)"
)


def root_file(case: Path) -> Path:
    """The file the case compiles: ``main.sfidl``, ``<folder>.sfidl``, or the only .sfidl."""
    for name in ("main.sfidl", f"{case.name}.sfidl"):
        if (case / name).is_file():
            return case / name
    [only] = case.glob("*.sfidl")
    return only


def app_files(case: Path) -> list[Path]:
    return sorted(case.glob("*.py"))


@contextmanager
def inside(case: Path) -> Iterator[None]:
    """Run with the case folder as the working directory, so files are named relative to it."""
    before = Path.cwd()
    os.chdir(case)
    try:
        yield
    finally:
        os.chdir(before)


def render_diagnostics(case: Path) -> str:
    """What a user sees for the case: the errors, or the warnings and `ok`."""
    lints = RULE_IDS if case.name.startswith("lint_") else ()
    with inside(case):
        try:
            loaded = load_program(Path(root_file(case).name), lints)
        except CompileError as error:
            return error.render() + "\n"
    warnings = [w.render(loaded.sources) + "\n" for w in loaded.warnings]
    return "".join(warnings) + "ok\n"


_compiled: dict[Path, Compiled] = {}


def compiled(case: Path) -> Compiled:
    """The case's outputs, compiled once per session."""
    if case not in _compiled:
        with inside(case):
            _compiled[case] = compile_file(Path(root_file(case).name))
    return _compiled[case]


def check_expected(path: Path, actual: bytes) -> None:
    """``path`` holds ``actual`` (or is rewritten to hold it when updating)."""
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.is_file() or path.read_bytes() != actual:
            path.write_bytes(actual)
        return
    expected = path.read_bytes()
    if expected != actual:
        # A text diff reads better than two byte strings.
        assert actual.decode(errors="replace") == expected.decode(errors="replace"), (
            f"{path.relative_to(REPO)} differs; run with SFIDL_UPDATE_CASES=1 to accept the "
            "new output, then review the diff"
        )


def check_gen(case: Path) -> None:
    gen = case / "gen"
    files = compiled(case).files
    pinned = sorted(p.name for p in gen.iterdir()) if gen.is_dir() else []
    if UPDATE and not pinned:
        pinned = sorted(name for name in files if not NOT_PINNED.fullmatch(name))
    assert pinned, f"{gen.relative_to(REPO)} is empty; run with SFIDL_UPDATE_CASES=1 to fill it"
    stale = [name for name in pinned if name not in files]
    if UPDATE:
        for name in stale:
            (gen / name).unlink()
    else:
        assert (
            not stale
        ), f"{gen.relative_to(REPO)} holds files the compiler no longer writes: {stale}"
    for name in pinned:
        if name in files:
            check_expected(gen / name, files[name])


def is_new(case: Path) -> bool:
    """A folder with nothing but its input: the update fills it in."""
    expected = [case / "expected.txt", case / "gen", *(case / name for name in GRAPHS)]
    return not app_files(case) and not any(p.exists() for p in expected)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case(case: Path) -> None:
    assert root_file(case).is_file()
    if UPDATE and is_new(case):
        rendered = render_diagnostics(case)
        if rendered.endswith("ok\n"):
            check_gen(case)
        else:
            check_expected(case / "expected.txt", rendered.encode())
        return
    assert not is_new(case), f"{case.relative_to(REPO)} has no expected output"
    if (case / "expected.txt").is_file():
        # Anything but CompileError (a traceback) fails the test here.
        check_expected(case / "expected.txt", render_diagnostics(case).encode())
    if (case / "gen").is_dir():
        check_gen(case)
    for name, render in GRAPHS.items():
        if (case / name).is_file():
            with inside(case):
                program = load_program(Path(root_file(case).name)).program
            check_expected(case / name, render(build_graph(program)).encode())


DIAGNOSTIC_CASES = [case for case in CASES if (case / "expected.txt").is_file()]


@pytest.mark.parametrize("case", DIAGNOSTIC_CASES, ids=[c.name for c in DIAGNOSTIC_CASES])
def test_mangled_inputs_give_diagnostics_not_tracebacks(
    case: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The case's root file with one line dropped, or cut short, still fails cleanly."""
    for other in case.rglob("*.sfidl"):
        target = tmp_path / other.relative_to(case)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(other.read_bytes())
    monkeypatch.chdir(tmp_path)
    root = Path(root_file(case).name)
    text = root.read_bytes()
    lines = text.splitlines(keepends=True)
    variants = [b"".join(lines[:i] + lines[i + 1 :]) for i in range(len(lines))]
    # Every 11th cut; about 300 for a large case.
    variants += [text[:cut] for cut in range(0, len(text), max(11, len(text) // 300))]
    for variant in variants:
        root.write_bytes(variant)
        try:
            load_program(root)
        except CompileError as error:
            assert error.diagnostics, variant


# --- application files under mypy -----------------------------------------------------

APP_CASES = [case for case in CASES if app_files(case)]

Location = tuple[str, int]


def marks(case: Path) -> dict[Location, list[str]]:
    """The fragments marked on each line of the case's app files."""
    found: dict[Location, list[str]] = {}
    for path in app_files(case):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            parts = MARK.split(line)
            if len(parts) > 1:
                found[(path.name, number)] = [part.strip() for part in parts[1:]]
    return found


@pytest.fixture(scope="session")
def mypy_errors(tmp_path_factory: pytest.TempPathFactory) -> dict[Path, dict[Location, list[str]]]:
    """mypy's errors in each case's app files (and in its outputs), by file and line.

    Cases run together in one mypy process when their module names allow it (so far they
    all do): the standard library, protobuf and sfidl's runtime are analysed once. Each
    app file runs as ``<case>__<file>``; the outputs of every case sit side by side.
    """
    batches: list[dict[str, tuple[Path, str]]] = []  # file in the run -> (case, its name)
    for case in APP_CASES:
        modules = [name for name in compiled(case).files if name.endswith((".py", ".pyi"))]
        names = {name: (case, name) for name in modules}
        names.update({f"{case.name}__{p.name}": (case, p.name) for p in app_files(case)})
        batch = next((b for b in batches if not names.keys() & b.keys()), None)
        if batch is None:
            batches.append(batch := {})
        batch.update(names)
    errors: dict[Path, dict[Location, list[str]]] = {case: {} for case in APP_CASES}
    for batch in batches:
        folder = tmp_path_factory.mktemp("mypy")
        for file, (case, name) in batch.items():
            target = folder / file
            target.parent.mkdir(parents=True, exist_ok=True)
            data = compiled(case).files.get(file)
            target.write_bytes((case / name).read_bytes() if data is None else data)
        apps = sorted(file for file, (case, name) in batch.items() if file != name)
        for (file, line), texts in run_mypy(folder, apps).items():
            # An error outside the cases' files (sfidl's runtime, the stubs' stubs) fails all.
            assert file in batch, f"mypy: {file}:{line}: {texts}"
            case, name = batch[file]
            errors[case].setdefault((name, line), []).extend(texts)
    return errors


def run_mypy(folder: Path, files: list[str]) -> dict[Location, list[str]]:
    """mypy --strict over ``files`` of ``folder``, with the folder on its path."""
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--config-file", str(REPO / "pyproject.toml")]
        + ["--cache-dir", str(folder / ".mypy_cache"), "--no-error-summary", "--no-pretty"]
        + ["--hide-error-context", "--show-error-codes", *files],
        cwd=folder,
        env={**os.environ, "MYPYPATH": str(folder)},
        capture_output=True,
        text=True,
        timeout=MYPY_DEADLINE_SECONDS,
    )
    assert run.returncode in (0, 1), run.stdout + run.stderr
    errors: dict[Location, list[str]] = {}
    for line in run.stdout.splitlines():
        match = MYPY_LINE.fullmatch(line)
        assert match, f"unexpected mypy output: {line}\n{run.stdout}{run.stderr}"
        if match["level"] == "error":
            errors.setdefault((match["file"], int(match["line"])), []).append(match["text"])
    return errors


@pytest.mark.parametrize("case", APP_CASES, ids=[c.name for c in APP_CASES])
def test_a_case_with_app_files_has_one_mypy_accepts_whole(case: Path) -> None:
    """Misuses go in files of their own: a positive file shows the stubs used right."""
    marked = {file for file, _ in marks(case)}
    assert [path for path in app_files(case) if path.name not in marked], case


@pytest.mark.parametrize("case", APP_CASES, ids=[c.name for c in APP_CASES])
def test_app_files_type_check_exactly_where_marked(
    case: Path, mypy_errors: dict[Path, dict[Location, list[str]]]
) -> None:
    errors = mypy_errors[case]
    expected = marks(case)
    missing = [
        f"{file}:{line}: expected an error containing {fragment!r}, "
        f"mypy said {errors.get((file, line), [])}"
        for (file, line), fragments in sorted(expected.items())
        for fragment in fragments
        if not any(fragment in text for text in errors.get((file, line), []))
    ]
    unexpected = [
        f"{file}:{line}: {text}"
        for (file, line), texts in sorted(errors.items())
        for text in texts
        if not any(fragment in text for fragment in expected.get((file, line), []))
    ]
    assert not missing and not unexpected, "\n".join(missing + unexpected)


def test_the_command_line_writes_the_goldens_under_another_hash_seed(tmp_path: Path) -> None:
    """`sfidl compile` in a fresh interpreter, whose set and dict order differ, writes
    exactly the case's goldens: nothing in the outputs depends on the process."""
    case = CASES_DIR / "fixture_shop"
    run = subprocess.run(
        [sys.executable, "-m", "sfidl", "compile", root_file(case).name, "-o", str(tmp_path)],
        cwd=case,
        env={**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    goldens = sorted((case / "gen").iterdir())
    assert len(goldens) >= 4
    for golden in goldens:
        assert (tmp_path / golden.name).read_bytes() == golden.read_bytes(), golden.name
