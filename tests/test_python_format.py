"""The stubs come out in black's style without black; black only formats what layout cannot
vouch for, through a cache that may be missing or unwritable; the compiler loads neither
black nor the StateFun SDK nor aiohttp when it does not need them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.large_schema import large_schema
from sfidl.compiler import compile_file
from sfidl.gen import python_format
from tests.black_identity import assert_black_identical

ROOT = Path(__file__).resolve().parent.parent


def _black_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    original = python_format._black

    def spy(block: str) -> str:
        calls.append(block)
        return original(block)

    monkeypatch.setattr(python_format, "_black", spy)
    return calls


def test_a_large_schema_needs_no_black(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "large.sfidl"
    source.write_text(large_schema(100), encoding="utf-8")
    calls = _black_calls(monkeypatch)
    stubs = compile_file(source).files["large_sfidl.py"].decode()
    assert calls == []
    assert_black_identical(stubs)
    # Long signatures, split the way black keeps them.
    assert stubs.count("(\n        self,\n") > 50


ODD_DOC = '/// A doc with a backslash \\\\ and a \\ttab\n///   indented "quoted"\n'


@pytest.mark.parametrize("cache", ["fresh", "unwritable"])
def test_what_layout_cannot_vouch_for_goes_through_black(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cache: str
) -> None:
    folder = tmp_path / "cache"
    if cache == "unwritable":
        folder.write_text("a file where the cache folder would be")
    monkeypatch.setenv("SFIDL_CACHE_DIR", str(folder))
    python_format._formatted.clear()
    source = tmp_path / "odd.sfidl"
    source.write_text(
        "namespace odd;\n"
        + ODD_DOC
        + "message Hello { string name = 1; }\n"
        + ODD_DOC
        + "function Greeter { on greet(Hello); }\n"
        + 'ingress hellos: kafka topic "hellos" of Hello -> Greeter.greet;\n',
        encoding="utf-8",
    )
    calls = _black_calls(monkeypatch)
    first = compile_file(source).files["odd_sfidl.py"].decode()
    assert calls, "the escaped docstrings are black's to format"
    assert_black_identical(first)
    python_format._formatted.clear()
    again = compile_file(source).files["odd_sfidl.py"].decode()
    assert again == first
    if cache == "fresh":
        assert sorted(p.suffix for p in (folder / "black").iterdir()) == [".py"] * len(set(calls))


def test_compile_loads_neither_the_sdk_nor_aiohttp_nor_black(tmp_path: Path) -> None:
    program = (
        "import sys\n"
        "from pathlib import Path\n"
        "import sfidl.compiler\n"
        f"sfidl.compiler.compile_file(Path({str(ROOT / 'examples/shop/shop.sfidl')!r}))\n"
        "print(sorted(m for m in ('statefun', 'aiohttp', 'black') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program],
        env={"SFIDL_CACHE_DIR": str(tmp_path), "PATH": ""},
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


def test_the_session_check_fails_a_module_black_would_change(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    not_black = "x = ( 1 )\n"  # short and plain: layout passes it through as it is
    monkeypatch.delenv(python_format.CHECK_VARIABLE)
    assert python_format.format_python(not_black) == not_black
    monkeypatch.setenv(python_format.CHECK_VARIABLE, "1")
    with pytest.raises(AssertionError, match=r"differs from black's formatting"):
        python_format.format_python(not_black)
