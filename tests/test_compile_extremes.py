"""Odd but valid input compiles to stubs that import and keep what was written.

tests/test_cli_limits.py has the inputs that must be refused with a diagnostic; these must
not be. Each stubs module is imported in a fresh interpreter (its messages then go into
that process's protobuf pool, not this one's).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sfidl.cli import main

# Under protoc's limit of 65,535 characters for a full name with the namespace in front.
LONG = 65_000


def compile_and_run(tmp_path: Path, stem: str, text: str, check: str) -> None:
    """Compile ``text`` as ``<stem>.sfidl``, then run ``check`` with the stubs as ``stubs``."""
    source = tmp_path / f"{stem}.sfidl"
    source.write_text(text, encoding="utf-8")
    out = tmp_path / "gen"
    assert main(["compile", str(source), "-o", str(out)]) == 0
    program = f"import sys\nsys.path.insert(0, {str(out)!r})\nimport {stem}_sfidl as stubs\n"
    result = subprocess.run(  # on standard input: an argument is limited to 128 KiB
        [sys.executable, "-"], input=program + check, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_a_nul_in_doc_comments_compiles_to_stubs_that_import_and_keep_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (
        "namespace nul;\n"
        "/// A message\x00 with a NUL.\n"
        "message M { int32 x = 1; }\n"
        "/// A function\x00 with a NUL.\n"
        "function F {\n"
        "  /// A state\x00.\n"
        "  state seen: int32 = 0;\n"
        "  /// A handler\x00.\n"
        "  on go(M);\n"
        "}\n"
        'ingress i: kafka topic "t" of M -> F.go;\n'
    )
    check = (
        "assert stubs.F.__doc__ == 'A function\\x00 with a NUL.', stubs.F.__doc__\n"
        "assert stubs.F.go.__doc__ == 'A handler\\x00.', stubs.F.go.__doc__\n"
    )
    compile_and_run(tmp_path, "nul", text, check)
    assert "Traceback" not in capsys.readouterr().err


def long_name(first: str) -> str:
    return first + "q" * (LONG - 1)


def test_names_of_65000_characters_compile_to_stubs_that_import(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every kind of name at 65,000 characters, each where its full name stays under protoc's
    limit (a long member of a long message would not; the checker says so)."""
    enum, value, message, field = long_name("E"), long_name("V"), long_name("M"), long_name("f")
    function, state, handler, timer = long_name("F"), long_name("s"), long_name("h"), long_name("t")
    ingress, egress = long_name("i"), long_name("g")
    text = (
        "namespace longnames;\n"
        f"enum {enum} {{ Z = 0; }}\n"
        f"enum Small {{ {value} = 0; }}\n"
        f"message {message} {{ int32 x = 1; }}\n"
        f"message N {{ int32 {field} = 1; {enum} e = 2; Small s = 3; }}\n"
        f"function {function} {{ on go({message}); }}\n"
        f"function G {{\n  state {state}: int32 = 0;\n"
        f"  on {handler}(N) emits {egress} sets {timer};\n  timer {timer}(N);\n}}\n"
        f'ingress {ingress}: kafka topic "t" of N -> G.{handler};\n'
        f'ingress j: kafka topic "u" of {message} -> {function}.go;\n'
        f'egress {egress}: kafka topic "u" of N;\n'
    )
    check = (
        f"assert hasattr(stubs, {function!r}) and hasattr(stubs.G, {handler!r})\n"
        f"assert hasattr(stubs.G, {timer!r})\n"
    )
    compile_and_run(tmp_path, "longnames", text, check)
    assert "Traceback" not in capsys.readouterr().err
