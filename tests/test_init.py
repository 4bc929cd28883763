"""`sfidl init NAME`: the new project compiles, type-checks and passes its tests as created.

The project is made by the real command in a temporary folder and taken through what its
README tells a user to run, each step a subprocess with a deadline.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sfidl.cli import main
from sfidl.tools.fmt import format_source
from sfidl.tools.init import starter_files

REPO = Path(__file__).resolve().parent.parent
STEP_TIMEOUT = 300


def _step(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m ARGS`` in ``cwd``, as a user of the installed sfidl would run it."""
    return subprocess.run(
        [sys.executable, "-m", *map(str, args)],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT,
    )


def test_a_new_project_compiles_type_checks_and_passes_its_tests(tmp_path: Path) -> None:
    made = _step("sfidl", "init", "my_shop2", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    project = tmp_path / "my_shop2"
    assert sorted(p.name for p in project.iterdir()) == [
        ".gitignore",
        "README.md",
        "my_shop2.sfidl",
        "my_shop2_app.py",
        "pyproject.toml",
        "test_my_shop2.py",
    ]
    assert "cd my_shop2 && sfidl compile my_shop2.sfidl -o gen && mypy && pytest" in made.stderr

    compiled = _step("sfidl", "compile", "my_shop2.sfidl", "-o", "gen", cwd=project)
    assert compiled.returncode == 0, compiled.stderr
    checked = _step("mypy", cwd=project)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "no issues found in 2 source files" in checked.stdout
    tested = _step("pytest", "-q", "-p", "no:cacheprovider", cwd=project)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "2 passed" in tested.stdout

    # The type check is against the IDL: a greeting written as the wrong message fails it.
    app = project / "my_shop2_app.py"
    app.write_text(
        app.read_text().replace(
            "ctx.egress.greetings.write(greeting)", "ctx.egress.greetings.write(request)"
        )
    )
    broken = _step("mypy", cwd=project)
    assert broken.returncode == 1
    assert 'Argument 1 to "write" of "Egress" has incompatible type "Visit"' in broken.stdout


def test_the_starter_is_fmt_clean() -> None:
    files = starter_files("hello")
    assert format_source(files["hello.sfidl"], "hello.sfidl") == files["hello.sfidl"]


def test_an_existing_empty_folder_is_used(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "hello").mkdir()
    assert main(["init", "hello"]) == 0, capsys.readouterr().err
    assert (tmp_path / "hello" / "hello.sfidl").is_file()


def test_an_existing_folder_with_files_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "hello").mkdir()
    (tmp_path / "hello" / "notes.txt").write_text("mine")
    assert main(["init", "hello"]) == 2
    err = capsys.readouterr().err
    assert err == "sfidl: error: hello exists and is not empty; choose a new name or empty it\n"
    assert [p.name for p in (tmp_path / "hello").iterdir()] == ["notes.txt"]


def test_an_existing_file_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "hello").write_text("mine")
    assert main(["init", "hello"]) == 2
    assert capsys.readouterr().err == "sfidl: error: hello exists and is not a folder\n"


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("my-shop", "`my-shop` is not a valid project name"),
        ("1shop", "`1shop` is not a valid project name"),
        ("_shop", "`_shop` is not a valid project name"),
        ("a.b", "`a.b` is not a valid project name"),
        ("café", "`café` is not a valid project name"),
        ("", "`` is not a valid project name"),
        ("class", "`class` is a Python keyword"),
        ("a" * 101, "the project name is 101 characters long; at most 100"),
    ],
    ids=["dash", "digit", "underscore", "dot", "non-ascii", "empty", "keyword", "long"],
)
def test_a_name_that_cannot_name_modules_is_refused(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    why: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["init", name]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"sfidl: error: {why}")
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []
