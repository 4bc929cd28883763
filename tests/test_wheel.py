"""The built wheel is complete: installed on its own, it compiles an example; its metadata
splits what a function server needs from what the compiler needs.

grammar/ and templates/ live at the top of the repository and travel in the wheel as
``sfidl/_data/`` (pyproject.toml force-includes them). The wheel is built offline
(``--no-isolation``: hatchling comes from the environment), installed with
``pip install --target`` and run from a folder outside the repository, so nothing of
the source tree can stand in for a missing file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from sfidl.cli import COMPILER_MODULES

REPO = Path(__file__).resolve().parent.parent
GREETER = REPO / "examples" / "greeter" / "greeter.sfidl"


@dataclass(frozen=True)
class Installed:
    wheel: Path
    site: Path  # the --target folder holding the installed package
    work: Path  # a folder outside the repository holding a copy of greeter.sfidl


def run(args: list[str], *, cwd: Path, pythonpath: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("wheel")
    assert REPO not in root.parents
    built = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(root / "dist")]
        + [str(REPO)],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = (root / "dist").glob("sfidl-*.whl")
    site = root / "site"
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet"]
        + ["--disable-pip-version-check", "--target", str(site), str(wheel)],
        capture_output=True,
        text=True,
    )
    assert pip.returncode == 0, pip.stdout + pip.stderr
    work = root / "work"
    work.mkdir()
    shutil.copy(GREETER, work / "greeter.sfidl")
    return Installed(wheel, site, work)


def test_wheel_carries_grammar_and_templates(installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    for data in ("grammar", "templates"):
        for path in sorted((REPO / data).iterdir()):
            assert f"sfidl/_data/{data}/{path.name}" in names


def test_installed_package_is_the_one_imported(installed: Installed) -> None:
    result = run(
        [
            sys.executable,
            "-c",
            "import sfidl, sfidl.resources as r; "
            "print(sfidl.__file__); print(r.data_dir('grammar')); print(r.data_dir('templates'))",
        ],
        cwd=installed.work,
        pythonpath=installed.site,
    )
    assert result.returncode == 0, result.stderr
    module, grammar, templates = (Path(line) for line in result.stdout.splitlines())
    assert module == installed.site / "sfidl" / "__init__.py"
    assert grammar == installed.site / "sfidl" / "_data" / "grammar"
    assert templates == installed.site / "sfidl" / "_data" / "templates"


def test_installed_wheel_compiles_like_the_source_tree(installed: Installed) -> None:
    """Same input, same relative path: the wheel's outputs equal the source tree's, byte for byte."""
    args = ["-m", "sfidl", "compile", "greeter.sfidl", "-o"]
    from_wheel = run(
        [sys.executable, *args, "out_wheel"], cwd=installed.work, pythonpath=installed.site
    )
    assert from_wheel.returncode == 0, from_wheel.stderr
    assert "Traceback" not in from_wheel.stderr
    from_source = run([sys.executable, *args, "out_source"], cwd=installed.work, pythonpath=REPO)
    assert from_source.returncode == 0, from_source.stderr

    def files(folder: str) -> dict[str, bytes]:
        # The compiler's record of what it wrote (``.sfidl-outputs``) is not an output.
        return {
            p.name: p.read_bytes()
            for p in sorted((installed.work / folder).iterdir())
            if not p.name.startswith(".")
        }

    wheel_files = files("out_wheel")
    assert sorted(wheel_files) == [
        "greeter.proto",
        "greeter_pb2.py",
        "greeter_pb2.pyi",
        "greeter_sfidl.py",
        "module.playground.yaml",
        "module.yaml",
    ]
    assert wheel_files == files("out_source")


def test_installed_console_script_reports_the_version(installed: Installed) -> None:
    import sfidl

    script = installed.site / "bin" / "sfidl"
    result = run(
        [sys.executable, str(script), "--version"], cwd=installed.work, pythonpath=installed.site
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"sfidl {sfidl.__version__}"


def requirements(wheel: Path) -> dict[str, set[str]]:
    """The distributions the wheel requires, by extra ("" for the base install)."""
    archive = zipfile.ZipFile(wheel)
    (metadata,) = (n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
    by_extra: dict[str, set[str]] = {}
    for line in archive.read(metadata).decode().splitlines():
        if line.startswith("Requires-Dist: "):
            requirement = Requirement(line.removeprefix("Requires-Dist: "))
            marker = str(requirement.marker or "")
            extra = marker.removeprefix("extra == ").strip("'\"")
            by_extra.setdefault(extra, set()).add(requirement.name.lower())
    return by_extra


def test_a_function_server_installs_only_what_serving_needs(installed: Installed) -> None:
    """The base install is the runtime library's; the compiler comes with `sfidl[compiler]`."""
    required = requirements(installed.wheel)
    assert required[""] == {"flink-statefun", "protobuf", "aiohttp"}
    compiler = {"grpcio-tools", "mypy-protobuf", "jinja2", "lark", "black", "pygls"}
    assert required["compiler"] == compiler
    assert compiler <= required["test"], "the test extra installs the compiler too"
    # The command line recognises a missing compiler by these modules' names (sfidl.cli).
    distributions = packages_distributions()
    assert {d.lower() for m in COMPILER_MODULES for d in distributions[m]} == compiler
