"""Inputs at the edges of what the compiler and protoc accept: always a diagnostic, never a traceback."""

from __future__ import annotations

import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from sfidl.cli import main

REPO = Path(__file__).resolve().parent.parent
GREETER = REPO / "examples" / "greeter" / "greeter.sfidl"


def run(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str]:
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("url", ["not a url", "ftp://x/y", "http://", ""])
def test_bad_endpoint_option(capsys: pytest.CaptureFixture[str], tmp_path: Path, url: str) -> None:
    code, err = run(capsys, "compile", GREETER, "-o", tmp_path / "o", "--endpoint", url)
    assert "Traceback" not in err
    assert code in (1, 2) and "endpoint" in err
    assert not (tmp_path / "o").exists()


def nested(depth: int) -> str:
    opened = "".join(f"message M{i} {{ " for i in range(depth))
    return "namespace a;\n" + opened + "int32 x = 1; " + "} " * depth + "\n"


@pytest.mark.parametrize(
    "text",
    [
        nested(32),  # protoc: "Reached maximum recursion limit for nested messages"
        nested(300),  # protoc's limit too, reported once (the parser goes any depth)
        "namespace " + ".".join(["abc" * 50] * 40) + ";\nmessage M { int32 x = 1; }\n",
        # name-clash: `FState` is F's state class and a function
        "namespace a;\nmessage M { int32 x = 1; }\nmessage N { int32 x = 1; }\n"
        "function F { on go(M); }\nfunction FState { on go(N); }\n",
        # name-clash: `C3App` is the function and the application class
        "namespace c3;\nmessage M { int32 x = 1; }\nfunction C3App { on go(M); }\n",
    ],
    ids=["nest-32", "nest-300", "long-namespace", "clash-state", "clash-app"],
)
def test_limits_are_diagnostics(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str
) -> None:
    (tmp_path / "c3.sfidl").write_text(text)
    code, err = run(capsys, "compile", tmp_path / "c3.sfidl", "-o", tmp_path / "o")
    assert "Traceback" not in err
    assert code == 1 and re.search(r": error\[[a-z0-9-]+\]: ", err)


HUGE = "9" * 5000  # Python refuses to convert or print an int of more than 4,300 digits
M_AND_F = 'message M {}\ningress i: kafka topic "t" of M -> F.x;\n'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"namespace a;\nmessage M {{ int32 x = {HUGE}; }}\n", "field number 999999…9999 (5000"),
        (f"namespace a;\nenum E {{ E_A = 0; E_B = -{HUGE}; }}\n", "enum value -999999…9999"),
        (f"namespace a;\nmessage M {{ reserved 2 to {HUGE}; }}\n", "reserved"),
        (
            f"namespace a;\n{M_AND_F}function F {{ state s: int64 = {HUGE}; on x(M); }}\n",
            "999999…9999 (5000 digits) is out of the range of `int64`",
        ),
        (
            f"namespace a;\n{M_AND_F}function F {{ state s: double = {'9' * 400}; on x(M); }}\n",
            "the default is out of the range of a `double`",
        ),
        (
            f"namespace a;\n{M_AND_F}function F {{ state s: double = {HUGE}.5; on x(M); }}\n",
            "the default is out of the range of a `double`",
        ),
        (
            f"namespace a;\n{M_AND_F}function F {{ state s: string expire after write {HUGE}s;"
            " on x(M); }\n",
            "too long",
        ),
        (
            f"namespace a;\n{M_AND_F}function F {{ on x(M) calls F.r -> k timeout {HUGE}ms;"
            " rpc r(M) returns M; }\n",
            "the timeout is too long",
        ),
        ("namespace " + ".".join(["p"] * 102) + ";\nmessage M {}\n", "has 102 parts"),
    ],
    ids=[
        "field",
        "enum",
        "reserved",
        "int64",
        "double-400",
        "double-float",
        "expiry",
        "timeout",
        "depth",
    ],
)
def test_numbers_and_depths_beyond_every_limit_are_diagnostics(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, expected: str
) -> None:
    (tmp_path / "a.sfidl").write_text(text)
    code, err = run(capsys, "compile", tmp_path / "a.sfidl", "-o", tmp_path / "o")
    assert "Traceback" not in err and "internal error" not in err
    assert code == 1 and expected in err, err[:2000]
    assert len(err) < 20_000  # the numbers are abbreviated, not printed whole


def test_output_folder_is_a_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    code, err = run(capsys, "compile", GREETER, "-o", tmp_path / "afile")
    assert "Traceback" not in err
    assert code in (1, 2)


def test_outputs_are_readable_by_others(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, err = run(capsys, "compile", GREETER, "-o", tmp_path)
    assert code == 0, err
    for path in tmp_path.iterdir():
        assert path.stat().st_mode & stat.S_IROTH, path  # mkstemp makes them 0600


def test_member_names_that_match_runtime_attributes_compile_to_valid_stubs(tmp_path: Path) -> None:
    # `spec`, `fields` and `declared` name nothing of the runtime's base classes, whose own
    # attributes all start with `sfidl` or `_` (prefixes the IDL reserves).
    (tmp_path / "names.sfidl").write_text(
        "namespace a;\nmessage M { int32 x = 1; }\nmessage N { int32 x = 1; }\n"
        "function F { state fields: int32; state declared: string; on spec(M); on register(N); }\n"
        'ingress feed: kafka topic "t" -> F.spec;\n'
    )
    assert main(["compile", str(tmp_path / "names.sfidl"), "-o", str(tmp_path)]) == 0
    checked = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "names_sfidl.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout


@pytest.mark.parametrize("depth", [31, 32, 300, 5000])
def test_any_nesting_depth_compiles_or_is_protocs_one_diagnostic(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, depth: int
) -> None:
    # Each message with an enum: once a recursion error inside lark's tree walk (issue 9).
    text = "namespace a;\n" + "".join(
        f"message M{i} {{ enum E{i} {{ E{i}_A = 0; }}\n" for i in range(depth)
    )
    (tmp_path / "deep.sfidl").write_text(text + "int32 x = 1;\n" + "}\n" * depth)
    code, err = run(capsys, "compile", tmp_path / "deep.sfidl", "-o", tmp_path / "o")
    assert "Traceback" not in err and "internal error" not in err
    if depth <= 31:  # protoc's limit (its parser's recursion limit for nested messages)
        assert code == 0, err
        assert (tmp_path / "o" / "deep_pb2.py").is_file()
        return
    assert code == 1
    assert err.count("messages nest 31 levels deep at most") == 1, err[:2000]
    assert "deep.sfidl:33:" in err and err.rstrip().endswith("1 error")


PROGRAM = "namespace a;\nmessage M { int32 x = 1; }\nfunction F { on go(M); }\n"


@pytest.mark.parametrize("stem_bytes", [246, 247, 249])
def test_a_file_name_too_long_for_its_outputs_is_refused_by_check_and_compile(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, stem_bytes: int
) -> None:
    """`<stem>_sfidl.py` must fit in 255 bytes: protoc failed "File name too long" first."""
    source = tmp_path / ("é" * (stem_bytes // 2) + "x" * (stem_bytes % 2) + ".sfidl")
    source.write_text(PROGRAM)
    checked, check_err = run(capsys, "check", source)
    compiled, err = run(capsys, "compile", source, "-o", tmp_path / "o")
    assert "Traceback" not in check_err + err
    if stem_bytes <= 246:
        assert checked == compiled == 0
        assert (tmp_path / "o" / (source.stem + "_sfidl.py")).exists()
    else:
        assert checked == compiled == 1
        assert "error[file-name-too-long]" in check_err and check_err == err
        assert "at most 246 bytes" in err and not (tmp_path / "o").exists()


def test_an_imported_file_name_too_long_for_its_outputs_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    imported = tmp_path / ("i" * 248 + ".sfidl")  # its `_pb2.pyi` would be 256 bytes
    imported.write_text("namespace b;\nmessage N { int32 x = 1; }\n")
    root = tmp_path / "root.sfidl"
    root.write_text(PROGRAM.replace(";\n", f';\nimport "{imported.name}";\n', 1))
    code, err = run(capsys, "compile", root, "-o", tmp_path / "o")
    assert code == 1 and "error[file-name-too-long]" in err and "at most 247 bytes" in err
