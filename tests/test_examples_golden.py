"""The examples' generated code is committed under ``examples/<name>/gen`` and must match the compiler.

Refresh every golden folder (then review the diff by eye) with:

    SFIDL_UPDATE_GOLDENS=1 .venv/bin/pytest tests/test_examples_golden.py

Each example is compiled the way the refresh and the README do it: from the repository root,
with the path ``examples/<name>/<name>.sfidl`` (the generated headers name that path).
The stubs must be black-clean and the whole folder must pass ``mypy --strict``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from sfidl.outputs import STATE
from tests.black_identity import assert_black_identical
from tests.golden import UPDATE, assert_golden

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = ("billing", "fraud", "greeter", "shop")
# What Python and the type checker leave in a folder they read, and the compiler's record of
# what it wrote there (ignored by git); not the compiler's output.
NOT_OUTPUT = {"__pycache__", ".mypy_cache", STATE}


def compile_example(name: str, out: Path, hash_seed: str) -> dict[str, bytes]:
    """Run ``sfidl compile examples/<name>/<name>.sfidl -o out`` from the root; every file written."""
    result = subprocess.run(
        [sys.executable, "-m", "sfidl", "compile", f"examples/{name}/{name}.sfidl", "-o", str(out)],
        cwd=REPO,
        env={**os.environ, "PYTHONHASHSEED": hash_seed},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    return {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.name not in NOT_OUTPUT}


@pytest.fixture(scope="module", params=EXAMPLES)
def example(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def compiled(example: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example compiled into a fresh folder."""
    out = tmp_path_factory.mktemp(f"{example}_gen")
    compile_example(example, out, hash_seed="1")
    return out


def test_outputs_match_the_committed_gen_folder(example: str, compiled: Path) -> None:
    gen = REPO / "examples" / example / "gen"
    produced = {p.name: p.read_bytes() for p in compiled.iterdir() if p.name not in NOT_OUTPUT}
    assert sorted(produced) == sorted(
        [
            f"{example}.proto",
            f"{example}_pb2.py",
            f"{example}_pb2.pyi",
            f"{example}_sfidl.py",
            "module.playground.yaml",
            "module.yaml",
        ]
    )
    for name, content in sorted(produced.items()):
        assert_golden(gen / name, content)
    stale = sorted(p.name for p in gen.iterdir() if p.name not in produced.keys() | NOT_OUTPUT)
    if UPDATE:
        for name in stale:
            (gen / name).unlink()
    else:
        assert not stale, f"{gen} holds files the compiler no longer writes: {stale}"


def test_two_compiles_are_byte_identical(example: str, compiled: Path, tmp_path: Path) -> None:
    # A different hash seed shakes out any output that depends on set or dict-of-set order.
    again = compile_example(example, tmp_path, hash_seed="2")
    assert again == {
        p.name: p.read_bytes() for p in sorted(compiled.iterdir()) if p.name not in NOT_OUTPUT
    }


def test_stubs_are_black_identical(example: str, compiled: Path) -> None:
    assert_black_identical((compiled / f"{example}_sfidl.py").read_text(encoding="utf-8"))


def test_gen_folder_passes_mypy_strict(compiled: Path) -> None:
    with tempfile.TemporaryDirectory() as cache:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "mypy",
                "--strict",
                "--config-file",
                str(REPO / "pyproject.toml"),
            ]
            + ["--cache-dir", cache, "--show-error-codes", "."],
            cwd=compiled,
            env={**os.environ, "MYPYPATH": str(compiled)},
            capture_output=True,
            text=True,
        )
    assert result.returncode == 0, result.stdout + result.stderr
    # Both the .pyi of the messages and the stubs were checked, not an empty folder.
    assert "no issues found in 2 source files" in result.stdout, result.stdout
