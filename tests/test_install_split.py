"""The install split: a function server needs only the runtime library's dependencies.

The base install (the StateFun SDK, protobuf, aiohttp) serves an application; the compiler's
dependencies come with the ``compiler`` extra (pyproject.toml; tests/test_wheel.py checks the
built wheel's metadata). Each check runs in a fresh interpreter, so what this test session
has imported does not count.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sfidl.cli import COMPILER_MODULES, EXIT_UNAVAILABLE

ROOT = Path(__file__).resolve().parent.parent
GREETER = ROOT / "examples" / "greeter"
LOADED = "print(sorted(m for m in {modules!r} if sys.modules.get(m) is not None))\n"


def python(program: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", program],
        env={"SFIDL_CACHE_DIR": str(tmp_path / "cache"), "PATH": "", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )


SERVE_GREETER = """\
import asyncio, sys
sys.path[:0] = [{app!r}, {gen!r}]
from aiohttp import ClientSession, web
from statefun.request_reply_pb2 import FromFunction, ToFunction
import greeter_app, greeter_pb2
from sfidl.runtime.http import web_app

async def serve_one_request():
    runner = web.AppRunner(web_app(greeter_app.app))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        request = ToFunction()
        request.invocation.target.namespace = "com.example.greeter"
        request.invocation.target.type = "greeter"
        request.invocation.target.id = "ada"
        argument = request.invocation.invocations.add().argument
        argument.typename = "type.googleapis.com/com.example.greeter.Greet"
        argument.has_value = True
        argument.value = greeter_pb2.Greet(name="ada").SerializeToString()
        async with ClientSession() as session:
            async with session.post(
                f"http://127.0.0.1:{{port}}/statefun",
                data=request.SerializeToString(),
                headers={{"Content-Type": "application/octet-stream"}},
            ) as response:
                assert response.status == 200, response.status
                answer = FromFunction.FromString(await response.read())
        # The first request carries no state: the SDK asks for the state it registers.
        missing = answer.incomplete_invocation_context.missing_values
        assert [spec.state_name for spec in missing] == ["seen"], answer
    finally:
        await runner.cleanup()

asyncio.run(serve_one_request())
"""


def test_serving_an_application_loads_none_of_the_compilers_modules(tmp_path: Path) -> None:
    program = SERVE_GREETER.format(app=str(GREETER), gen=str(GREETER / "gen"))
    program += LOADED.format(modules=sorted(COMPILER_MODULES | {"sfidl.compiler"}))
    result = python(program, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


def test_sfidl_compile_loads_neither_the_sdk_nor_aiohttp(tmp_path: Path) -> None:
    """The command line, not only the compiler's API (tests/test_python_format.py)."""
    program = (
        "import sys\n"
        "from sfidl.cli import main\n"
        f"assert main(['compile', {str(GREETER / 'greeter.sfidl')!r}, '-o', 'out']) == 0\n"
        + LOADED.format(modules=["statefun", "aiohttp", "sfidl.runtime"])
    )
    result = python(program, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", result.stdout + result.stderr
    assert (tmp_path / "out" / "greeter_sfidl.py").is_file()


def test_the_wire_vocabulary_imports_only_the_standard_library(tmp_path: Path) -> None:
    program = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "import sfidl.wire\n"
        "print(sorted(m for m in set(sys.modules) - before"
        " if m.partition('.')[0] not in sys.stdlib_module_names))\n"
    )
    result = python(program, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['sfidl', 'sfidl.wire']"


def test_sfidl_without_the_compiler_extra_says_which_extra_to_install(tmp_path: Path) -> None:
    """A base install lacks the compiler's modules: the command names the extra, no traceback."""
    program = (
        "import sys\n"
        f"for name in {sorted(COMPILER_MODULES)!r}:\n"
        "    sys.modules[name] = None  # what a missing distribution looks like to `import`\n"
        "from sfidl.cli import main\n"
        f"sys.exit(main(['compile', {str(GREETER / 'greeter.sfidl')!r}, '-o', 'out']))\n"
    )
    result = python(program, tmp_path)
    assert result.returncode == EXIT_UNAVAILABLE, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("sfidl: error: this command needs sfidl's compiler")
    assert "pip install 'sfidl[compiler]'" in result.stderr
    assert not (tmp_path / "out").exists()
