"""The ``sfidl`` command line, run as users run it (``python -m sfidl``) and in-process (``main``).

Contract: exit 0 and every output on success; exit 1 with rendered diagnostics
(``file:line:col``, the source line, a caret) on stderr when an input has errors, and then
nothing is written: an earlier compile's outputs keep their bytes and their mtimes.
Exit 2 for a bad command line. Never a Python traceback for anything a user can type.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from sfidl import __version__
from sfidl.cli import main
from sfidl.outputs import STATE

REPO = Path(__file__).resolve().parent.parent
GREETER = REPO / "examples" / "greeter" / "greeter.sfidl"
SHOP = REPO / "examples" / "shop" / "shop.sfidl"
OUTPUT_NAMES = [
    "{stem}.proto",
    "{stem}_pb2.py",
    "{stem}_pb2.pyi",
    "{stem}_sfidl.py",
    "module.playground.yaml",
    "module.yaml",
]
BAD = "namespace a.b;\nmessage X { int32 y = 1 }\n"
CARET = re.compile(r"^ *\| *\^+$", re.MULTILINE)
# Old enough that a rewrite of the file could not keep it by accident.
OLD_MTIME_NS = 1_000_000_000 * 10**9


def outputs(stem: str) -> list[str]:
    return sorted(name.format(stem=stem) for name in OUTPUT_NAMES)


def sfidl(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m sfidl ARGS`` in ``cwd``."""
    return subprocess.run(
        [sys.executable, "-m", "sfidl", *map(str, args)],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
    )


def run_main(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    """``sfidl.cli.main(ARGS)`` in this process: exit code, stdout, stderr."""
    code = main([str(arg) for arg in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``folder`` (sfidl's bookkeeping and temporary files included), by
    relative path, with its bytes and mtime."""
    return {
        p.relative_to(folder).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def listing(folder: Path) -> list[str]:
    """The names in ``folder`` but sfidl's record of what it wrote there."""
    return sorted(p.name for p in folder.iterdir() if p.name != STATE)


@pytest.fixture(scope="module")
def compiled_greeter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The greeter compiled once by the real command, for tests that only read outputs."""
    out = tmp_path_factory.mktemp("greeter")
    result = sfidl("compile", GREETER, "-o", out, cwd=out)
    assert result.returncode == 0, result.stderr
    return out


# -- version and help --------------------------------------------------------------


def test_version() -> None:
    result = sfidl("--version", cwd=REPO)
    assert (result.returncode, result.stdout, result.stderr) == (0, f"sfidl {__version__}\n", "")


def test_version_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"sfidl {__version__}\n"


@pytest.mark.parametrize(
    ("args", "mentions"),
    [
        (["--help"], ["usage: sfidl", "compile", "run", "--version"]),
        (["compile", "--help"], ["usage: sfidl compile", "FILE", "--out", "--endpoint"]),
        (["run", "--help"], ["usage: sfidl run", "--app", "--port", "--remote", "--db"]),
    ],
    ids=["sfidl", "compile", "run"],
)
def test_help(args: list[str], mentions: list[str]) -> None:
    result = sfidl(*args, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    for word in mentions:
        assert word in result.stdout


@pytest.mark.parametrize(
    "args",
    [[], ["compile"], ["frobnicate"], ["compile", "x.sfidl", "--no-such-option"]],
    ids=["no-command", "no-file", "unknown-command", "unknown-option"],
)
def test_bad_command_line_is_usage_error(args: list[str]) -> None:
    result = sfidl(*args, cwd=REPO)
    assert result.returncode == 2
    assert "usage: sfidl" in result.stderr
    assert "Traceback" not in result.stderr


# -- compile: success --------------------------------------------------------------


def test_compile_writes_every_output(compiled_greeter: Path) -> None:
    assert listing(compiled_greeter) == outputs("greeter")


def test_compile_in_process(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run_main(capsys, "compile", GREETER, "-o", tmp_path / "new" / "folder")
    assert code == 0, err
    assert out == ""
    assert err == f"sfidl: wrote 6 files to {tmp_path / 'new' / 'folder'}\n"
    assert listing(tmp_path / "new" / "folder") == outputs("greeter")


def test_out_defaults_to_the_current_folder(tmp_path: Path) -> None:
    result = sfidl("compile", GREETER, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert listing(tmp_path) == outputs("greeter")


def test_recompile_replaces_outputs_and_leaves_no_temporary_files(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "greeter.proto").write_text("stale")
    code, _, err = run_main(capsys, "compile", GREETER, "-o", tmp_path)
    assert code == 0, err
    assert listing(tmp_path) == outputs("greeter")
    assert sorted(p.name for p in (tmp_path / STATE).iterdir()) == [".gitignore", "manifest.json"]
    assert (tmp_path / "greeter.proto").read_text().startswith("// Generated by sfidl")


def test_the_same_file_twice_is_compiled_once(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run_main(capsys, "compile", GREETER, GREETER, "-o", tmp_path)
    assert code == 0, err
    assert listing(tmp_path) == outputs("greeter")


def test_endpoint_option_overrides_the_files_endpoint(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert 'endpoint "http://localhost:8000/statefun";' in SHOP.read_text()
    url = "https://functions.internal:9443/shop/statefun"
    code, _, err = run_main(capsys, "compile", SHOP, "-o", tmp_path, "--endpoint", url)
    assert code == 0, err
    for name in ("module.yaml", "module.playground.yaml"):
        text = (tmp_path / name).read_text()
        assert f'urlPathTemplate: "{url}"' in text
        assert "localhost:8000" not in text
    stubs = (tmp_path / "shop_sfidl.py").read_text()
    assert f'    endpoint="{url}",\n' in stubs
    assert "localhost:8000" not in stubs


def test_without_endpoint_option_the_files_endpoint_is_used(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run_main(capsys, "compile", SHOP, "-o", tmp_path)
    assert code == 0, err
    assert (
        'urlPathTemplate: "http://localhost:8000/statefun"'
        in (tmp_path / "module.yaml").read_text()
    )
    assert (
        '    endpoint="http://localhost:8000/statefun",\n'
        in (tmp_path / "shop_sfidl.py").read_text()
    )


# -- compile: errors write nothing ----------------------------------------------


@pytest.fixture
def earlier_outputs(tmp_path: Path) -> Path:
    """An output folder holding an earlier successful compile, with old mtimes."""
    out = tmp_path / "out"
    result = sfidl("compile", GREETER, "-o", out, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for path in out.iterdir():
        os.utime(path, ns=(OLD_MTIME_NS, OLD_MTIME_NS))
    return out


def test_bad_file_reports_diagnostics_and_writes_nothing(
    tmp_path: Path, earlier_outputs: Path
) -> None:
    (tmp_path / "bad.sfidl").write_text(BAD)
    before = snapshot(earlier_outputs)
    result = sfidl("compile", "bad.sfidl", "-o", earlier_outputs, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith(
        "bad.sfidl:2:25: error[unexpected-token]: expected `;` after the field declaration, found `}`\n"
    )
    assert " 2 | message X { int32 y = 1 }\n" in result.stderr
    assert CARET.search(result.stderr)
    assert result.stderr.endswith("1 error\n")
    assert "Traceback" not in result.stderr
    assert snapshot(earlier_outputs) == before


def test_bad_file_does_not_create_the_output_folder(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "bad.sfidl").write_text(BAD)
    code, out, err = run_main(capsys, "compile", tmp_path / "bad.sfidl", "-o", tmp_path / "out")
    assert (code, out) == (1, "")
    assert f"{tmp_path / 'bad.sfidl'}:2:25: error[unexpected-token]:" in err
    assert CARET.search(err)
    assert not (tmp_path / "out").exists()


def test_one_bad_file_among_several_writes_nothing(tmp_path: Path, earlier_outputs: Path) -> None:
    (tmp_path / "bad.sfidl").write_text(BAD)
    before = snapshot(earlier_outputs)
    result = sfidl("compile", GREETER, "bad.sfidl", "-o", earlier_outputs, cwd=tmp_path)
    assert result.returncode == 1
    assert "bad.sfidl:2:25: error[unexpected-token]:" in result.stderr
    assert snapshot(earlier_outputs) == before


def test_every_bad_file_is_reported(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "bad.sfidl").write_text(BAD)
    (tmp_path / "empty.sfidl").write_text("")
    code, _, err = run_main(
        capsys, "compile", tmp_path / "bad.sfidl", tmp_path / "empty.sfidl", "-o", tmp_path / "o"
    )
    assert code == 1
    assert f"{tmp_path / 'bad.sfidl'}:2:25: error[unexpected-token]:" in err
    assert f"{tmp_path / 'empty.sfidl'}:1:1: error[unexpected-token]: expected `namespace`" in err
    assert err.endswith("2 errors\n")
    assert not (tmp_path / "o").exists()


def test_two_programs_into_one_folder_is_refused(tmp_path: Path, earlier_outputs: Path) -> None:
    before = snapshot(earlier_outputs)
    result = sfidl("compile", GREETER, SHOP, "-o", earlier_outputs, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == (
        f"sfidl: error: {GREETER} and {SHOP} both produce module.yaml; "
        "compile them into different folders\n"
    )
    assert snapshot(earlier_outputs) == before


# -- files that cannot be read ---------------------------------------------------


def unreadable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A file reading fails on with EACCES (chmod cannot make one for root, so patch)."""
    path = tmp_path / "secret.sfidl"
    path.write_text(GREETER.read_text())
    real_read_bytes = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self.name == path.name:
            raise PermissionError(13, "Permission denied", str(self))
        return real_read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    return path


def missing(folder: Path) -> Path:
    return folder / "missing.sfidl"


def directory(folder: Path) -> Path:
    (folder / "folder.sfidl").mkdir()
    return folder / "folder.sfidl"


def latin1(folder: Path) -> Path:
    (folder / "latin1.sfidl").write_bytes("namespace café;\n".encode("latin-1"))
    return folder / "latin1.sfidl"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (missing, "1:1: error[unreadable-file]: cannot read `{file}`: no such file"),
        (directory, "1:1: error[unreadable-file]: cannot read `{file}`: it is a directory"),
        (
            latin1,
            "1:14: error[not-utf8]: cannot read `{file}`: it is not UTF-8 text "
            "(invalid byte 0xE9 at offset 13)",
        ),
    ],
    ids=["missing", "directory", "not-utf8"],
)
def test_unreadable_input_is_a_diagnostic(
    tmp_path: Path, make: Callable[[Path], Path], message: str
) -> None:
    path = make(tmp_path)
    result = sfidl("compile", path.name, "-o", "out", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith(f"{path.name}:{message.format(file=path.name)}\n")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_permission_denied_is_a_diagnostic(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = unreadable(tmp_path, monkeypatch)
    code, _, err = run_main(capsys, "compile", path, "-o", tmp_path / "out")
    assert code == 1
    assert f"cannot read `{path}`: Permission denied" in err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


# -- adversarial inputs ------------------------------------------------------------

LONG = "A" + "b" * 5000
# The expected message, after `{path}:line:col: ` where the location is pinned down.
ADVERSARIAL_ERRORS: dict[str, tuple[str | bytes, str]] = {
    "empty": (
        "",
        "{path}:1:1: error[unexpected-token]: expected `namespace` as the first statement",
    ),
    "only-comments": (
        "// nothing\n/* here */\n",
        "{path}:1:1: error[unexpected-token]: expected `namespace`",
    ),
    "binary": (
        bytes(range(256)) * 4,
        # The first byte that is not UTF-8 is 0x80, at offset 128: after one newline (0x0A).
        "{path}:2:118: error[not-utf8]: cannot read `{path}`: it is not UTF-8 text "
        "(invalid byte 0x80 at offset 128)",
    ),
    "nul-byte": (
        "namespace a;\x00\n",
        "{path}:1:13: error[unexpected-character]: unexpected character",
    ),
    "unicode-message": (
        "namespace a;\nmessage Größe { int32 wert = 1; }\n",
        "{path}:2:9: error[bad-name]: `Größe` is not a valid message name",
    ),
    "unicode-field": (
        "namespace a;\nmessage M { int32 größe = 1; }\n",
        "{path}:2:19: error[bad-name]: `größe` is not a valid field name",
    ),
    "unicode-namespace": (
        "namespace ä;\n",
        "{path}:1:11: error[bad-name]: `ä` is not a valid namespace name",
    ),
    "python-keyword-function": (
        "namespace a;\nmessage M { int32 x = 1; }\nfunction class { on go(M); }\n",
        "{path}:3:10: error[python-keyword]: `class` is a Python keyword and cannot name a function",
    ),
    "python-keyword-handler": (
        "namespace a;\nmessage M { int32 x = 1; }\nfunction F { on def(M); }\n",
        "{path}:3:17: error[python-keyword]: `def` is a Python keyword and cannot name a handler",
    ),
    "python-keyword-state": (
        "namespace a;\nmessage M { int32 x = 1; }\nfunction F { state lambda: int32; on go(M); }\n",
        "{path}:3:20: error[python-keyword]: `lambda` is a Python keyword and cannot name a state",
    ),
    "python-keyword-field": (
        "namespace a;\nmessage M { int32 import = 1; }\n",
        "{path}:2:19: error[python-keyword]: `import` is a Python keyword",
    ),
    "reserved-prefix": (
        "namespace a;\nmessage M { int32 x = 1; }\nfunction F { on _go(M); }\n",
        "{path}:3:17: error[reserved-prefix]: handler name `_go` starts with `_`",
    ),
    "unclosed-braces": (
        "namespace a;\n" + "{" * 20000 + "\n",
        "error[unexpected-token]: expected a declaration (`message`, `error`",
    ),
    "unterminated-comment": (
        "namespace a;\n/* open\n",
        "{path}:2:1: error[unterminated-comment]: unterminated comment",
    ),
    "unterminated-string": (
        'namespace a;\nendpoint "http://x\n',
        "{path}:2:10: error[unterminated-string]: unterminated string",
    ),
    "huge-field-number": (
        "namespace a;\nmessage M { int32 x = 99999999999999999999999; }\n",
        "{path}:2:23: error[field-number-range]: field number 99999999999999999999999 is out of range",
    ),
}


@pytest.mark.parametrize("case", sorted(ADVERSARIAL_ERRORS))
def test_adversarial_input_gets_a_diagnostic(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, case: str
) -> None:
    content, expected = ADVERSARIAL_ERRORS[case]
    path = tmp_path / f"{case}.sfidl"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    code, _, err = run_main(capsys, "compile", path, "-o", tmp_path / "out")
    assert "Traceback" not in err
    assert code == 1, err
    assert expected.format(path=path) in err, err
    assert re.search(r"^\d+ errors?$", err, re.MULTILINE), err
    assert not (tmp_path / "out").exists()


ADVERSARIAL_VALID = {
    # Names are not limited in length by Python or protobuf.
    "long-identifiers": (
        f"namespace a;\nmessage {LONG} {{ int32 {LONG.lower()} = 1; }}\n"
        f"function {LONG}F {{ state {LONG.lower()}: int32; on {LONG.lower()}({LONG}); }}\n"
        f'ingress i: kafka topic "t" of {LONG} -> {LONG}F.{LONG.lower()};\n'
    ),
    # sfidl's keywords are contextual, as protobuf's are.
    "sfidl-keywords-as-names": (
        "namespace a;\nmessage message { int32 function = 1; int32 state = 2; }\n"
        'function F { on go(message); }\ningress i: kafka topic "t" of message -> F.go;\n'
    ),
    "deep-nesting": (
        "namespace a;\n"
        + "".join(f"message M{i} {{ " for i in range(31))
        + "int32 x = 1; "
        + "} " * 31
        + "\n"
    ),
    "byte-order-mark": "\ufeffnamespace a;\nmessage M { int32 x = 1; }\n",
    "crlf-line-ends": "namespace a;\r\nmessage M {\r\n  int32 x = 1;\r\n}\r\n",
    "very-long-line": "namespace a;\n" + " " * 1_000_000 + "message M { int32 x = 1; }\n",
}


@pytest.mark.parametrize("case", sorted(ADVERSARIAL_VALID))
def test_adversarial_but_valid_input_compiles(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, case: str
) -> None:
    path = tmp_path / f"{case.replace('-', '_')}.sfidl"
    path.write_text(ADVERSARIAL_VALID[case], newline="")
    code, _, err = run_main(capsys, "compile", path, "-o", tmp_path / "out")
    assert "Traceback" not in err
    assert code == 0, err
    assert listing(tmp_path / "out") == outputs(path.stem)


# -- check -------------------------------------------------------------------------


def test_check_reports_nothing_for_good_files_and_writes_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    # Two programs at once: check writes no module.yaml, so they cannot collide.
    code, out, err = run_main(capsys, "check", SHOP, GREETER)
    assert (code, out) == (0, "")
    assert "2 file(s) OK" in err
    assert list(tmp_path.iterdir()) == []


def test_check_reports_errors_like_compile(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.sfidl").write_text(BAD)
    code, _, err = run_main(capsys, "check", "bad.sfidl")
    compile_code, _, compile_err = run_main(capsys, "compile", "bad.sfidl", "-o", "out")
    assert (code, err) == (compile_code, compile_err) == (1, compile_err)
    assert CARET.search(err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.sfidl"]


def test_outputs_do_not_depend_on_how_the_input_path_is_spelled(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(GREETER.parent.parent)
    assert run_main(capsys, "compile", "greeter/greeter.sfidl", "-o", tmp_path / "relative")[0] == 0
    assert run_main(capsys, "compile", GREETER, "-o", tmp_path / "absolute")[0] == 0
    relative, absolute = (snapshot(tmp_path / name) for name in ("relative", "absolute"))
    assert {n: b for n, (b, _) in relative.items()} == {n: b for n, (b, _) in absolute.items()}


@pytest.mark.parametrize("command", ["compile", "check"])
def test_compile_and_check_parse_alike_with_the_other_commands_left_out(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # `sfidl compile|check` builds only the parsers those need: the same help, the same errors.
    from sfidl.cli import _parser

    said = []
    for parser in (_parser(), _parser(command)):
        for argv in ([command, "--help"], [command, "--lint", "nonsense", "x.sfidl"], [command]):
            with pytest.raises(SystemExit) as stop:
                parser.parse_args(argv)
            captured = capsys.readouterr()
            said.append((stop.value.code, captured.out, captured.err))
        args = parser.parse_args([command, "a.sfidl", "--lint", "none"])
        said.append(sorted((k, str(v)) for k, v in vars(args).items()))
    half = len(said) // 2
    assert said[:half] == said[half:]
    assert "usage: sfidl " + command in said[0][1]
