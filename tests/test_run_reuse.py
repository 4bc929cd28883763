"""`sfidl run` compiles only when something it compiled from changed: the .sfidl file, a file
it imports, the outputs themselves (edited or removed), or the sfidl version."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sfidl.launch import _compile_unless_current

ROOT = Path(__file__).resolve().parent.parent
GREETER = ROOT / "examples" / "greeter"
DEADLINE_S = 120.0
UP_TO_DATE = "is up to date with"


def start(folder: Path) -> str:
    """One `sfidl run` that stops once idle; returns its log."""
    command = [
        sys.executable, "-m", "sfidl", "run", "greeter.sfidl", "--app", "greeter_app",
        "-o", "gen", "--port", "0", "--egress-port", "0", "--db", "local.sqlite",
        "--stop-when-idle", "--no-stdout",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(folder)}
    done = subprocess.run(
        command, cwd=folder, env=env, capture_output=True, text=True, timeout=DEADLINE_S
    )
    assert done.returncode == 0, done.stderr
    return done.stderr


def written(folder: Path) -> dict[str, tuple[int, int]]:
    """Inode and modification time of every output, the manifest included."""
    paths = [*(folder / "gen").iterdir(), folder / "gen" / ".sfidl-outputs" / "manifest.json"]
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in paths if p.is_file()}


def project(tmp_path: Path) -> Path:
    """The greeter, importing a second file (which declares nothing the app serves)."""
    shutil.copy(GREETER / "greeter_app.py", tmp_path)
    text = (GREETER / "greeter.sfidl").read_text(encoding="utf-8")
    head, semicolon, rest = text.partition(";")  # after the namespace statement
    (tmp_path / "greeter.sfidl").write_text(f'{head}{semicolon}\nimport "extra.sfidl";{rest}')
    (tmp_path / "extra.sfidl").write_text("namespace extra;\nmessage Extra { int32 x = 1; }\n")
    return tmp_path


def test_a_start_with_nothing_changed_does_not_compile(tmp_path: Path) -> None:
    folder = project(tmp_path)
    assert UP_TO_DATE not in start(folder)
    before = written(folder)
    assert "greeter_sfidl.py" in before and "extra_pb2.py" in before
    assert UP_TO_DATE in start(folder)
    assert written(folder) == before  # not one file written again


def test_a_change_to_any_input_or_output_compiles_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # In-process: what `sfidl run` does before it imports the application.
    folder = project(tmp_path)
    monkeypatch.chdir(folder)
    served = ("com.example.greeter/greeter",)

    def compiled() -> bool:
        namespace, functions = _compile_unless_current(Path("greeter.sfidl"), Path("gen"), None)
        assert (namespace, functions) == ("com.example.greeter", served)
        return UP_TO_DATE not in capsys.readouterr().err

    assert compiled()
    assert not compiled()

    def compiles_after(change: str) -> None:
        before = written(folder)
        assert compiled(), change
        assert written(folder)["manifest.json"] != before.get("manifest.json"), change
        assert not compiled(), change  # and only once

    with open(folder / "greeter.sfidl", "a", encoding="utf-8") as file:
        file.write("// a comment changes the text\n")
    compiles_after("the file")
    (folder / "extra.sfidl").write_text("namespace extra;\nmessage Extra { int64 x = 1; }\n")
    compiles_after("an imported file")
    (folder / "gen" / "greeter_pb2.py").unlink()
    compiles_after("an output removed")
    with open(folder / "gen" / "greeter_sfidl.py", "a", encoding="utf-8") as file:
        file.write("# edited\n")
    compiles_after("an output edited")
    manifest = folder / "gen" / ".sfidl-outputs" / "manifest.json"
    record = json.loads(manifest.read_text())
    record["made_from"]["sfidl"] = "0.0.0-another"
    manifest.write_text(json.dumps(record))
    compiles_after("another sfidl version")
    assert _compile_unless_current(Path("greeter.sfidl"), Path("gen"), "http://other:8000/")
    assert UP_TO_DATE not in capsys.readouterr().err  # another --endpoint
