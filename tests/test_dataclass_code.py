"""Dataclass methods served from the code cache behave as compiled ones, and the cache is
only ever an optimisation (sfidl.dataclass_code)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from sfidl.dataclass_code import cached


def make() -> type:
    @dataclasses.dataclass(frozen=True, order=True)
    class Point:
        x: int
        y: int = 2

    return Point


def check(point: type) -> None:
    a, b = point(1), point(1, 2)
    assert a == b and hash(a) == hash(b) and repr(a).endswith("Point(x=1, y=2)")
    assert point(0) < a
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.x = 3


def test_methods_from_the_cache_behave_as_compiled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SFIDL_CACHE_DIR", str(tmp_path))
    with cached():
        check(make())  # compiled, then saved
    saved = list((tmp_path / "dataclasses").iterdir())
    assert len(saved) == 1 and saved[0].stat().st_size > 0
    with cached():
        check(make())  # from the cache
    assert "exec" not in vars(dataclasses)  # dataclasses as they were once it ends
    check(make())


def test_a_broken_cache_is_no_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SFIDL_CACHE_DIR", str(tmp_path))
    with cached():
        make()
    (saved,) = (tmp_path / "dataclasses").iterdir()
    saved.write_bytes(b"\x00not marshal data")
    with cached():
        check(make())
    saved.unlink()
    (tmp_path / "dataclasses").rmdir()
    (tmp_path / "dataclasses").write_bytes(b"")  # a file where the folder goes: unwritable
    with cached():
        check(make())


def test_a_compile_fills_and_then_reads_it(tmp_path: Path) -> None:
    shop = Path(__file__).resolve().parent.parent / "examples" / "shop" / "shop.sfidl"
    env = {"SFIDL_CACHE_DIR": str(tmp_path / "cache"), "PATH": ""}
    for run in range(2):
        out = tmp_path / f"out{run}"
        command = [sys.executable, "-m", "sfidl", "compile", str(shop), "-o", str(out)]
        subprocess.run(command, env=env, check=True, capture_output=True)
    assert (tmp_path / "out0" / "shop_sfidl.py").read_bytes() == (
        tmp_path / "out1" / "shop_sfidl.py"
    ).read_bytes()
    assert any((tmp_path / "cache" / "dataclasses").iterdir())


_SPY = """
import dataclasses, sys

original = dataclasses.dataclass
outside = []


def spy(cls=None, /, **options):
    def wrap(defined):
        if "exec" not in vars(dataclasses):  # sfidl.dataclass_code.cached is not active
            outside.append(f"{defined.__module__}.{defined.__qualname__}")
        return original(**options)(defined)

    return wrap if cls is None else wrap(cls)


dataclasses.dataclass = spy
from sfidl.cli import main

outside.clear()  # what importing sfidl.cli defines comes before any command
main(sys.argv[1:])
print(",".join(outside))
"""


def test_every_dataclass_a_command_defines_goes_through_the_cache(tmp_path: Path) -> None:
    # Parsing the command line already imports the front end (--lint's default): that too
    # must happen with the cache active, or it serves a small part of what it could.
    shop = Path(__file__).resolve().parent.parent / "examples" / "shop" / "shop.sfidl"
    env = {"SFIDL_CACHE_DIR": str(tmp_path / "cache"), "PATH": ""}
    for command in (["compile", str(shop), "-o", str(tmp_path / "out")], ["check", str(shop)]):
        done = subprocess.run(
            [sys.executable, "-c", _SPY, *command],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        outside = [name for name in done.stdout.strip().split(",") if name]
        assert outside == [], (command[0], outside)
