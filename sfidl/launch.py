"""``sfidl run``: compile the program, import the user's application, run it locally."""

from __future__ import annotations

import argparse
import hashlib
import importlib
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from sfidl import __version__
from sfidl.local.app import LocalApp
from sfidl.outputs import made_from, write_outputs

if TYPE_CHECKING:
    from sfidl.model import Program


class LaunchError(Exception):
    """The application cannot be started as asked; the message says why."""


def launch(args: argparse.Namespace) -> int:
    """Run ``args.app`` on the local runtime; returns the exit code."""
    from sfidl.local.errors import LocalRuntimeError
    from sfidl.local.run import RunOptions, run

    if not 0 < args.call_timeout < float("inf"):
        raise LaunchError(f"--call-timeout {args.call_timeout}: give a positive number of seconds")
    if args.reload and args.stop_when_idle:
        raise LaunchError("--reload keeps running until stopped: leave out --stop-when-idle")
    out: Path = args.out or args.file.parent / "gen"
    options = RunOptions(
        db=args.db or Path(".sfidl/local.sqlite"),
        remote=args.remote,
        endpoint=args.endpoint,
        port=args.port,
        egress_port=args.egress_port,
        ingress_files=tuple(args.ingress_file),
        egress_dir=args.egress_dir,
        egress_stdout=not args.no_stdout,
        stop_when_idle=args.stop_when_idle,
        idle_horizon_s=args.idle_horizon,
        call_timeout_s=args.call_timeout,
    )
    if args.reload:
        from sfidl.reload import run_reloading

        try:
            run_reloading(args, out, options)
        except LocalRuntimeError as error:
            print(f"sfidl run: {error}", file=sys.stderr)
            return 1
        return 0
    namespace, functions = _compile_unless_current(args.file, out, args.endpoint)
    app = _check_serves(
        load_app(args.app, search=(out, Path.cwd(), args.file.parent)), namespace, functions
    )
    try:
        run(app, options)
    except LocalRuntimeError as error:
        print(f"sfidl run: {error}", file=sys.stderr)
        return 1
    return 0


def _compile_unless_current(
    file: Path, out: Path, endpoint: str | None
) -> tuple[str, tuple[str, ...]]:
    """Compile ``file`` into ``out``, unless ``out`` holds, unchanged, what this version of
    sfidl compiled there from the same text of ``file`` and of every file it imports (with the
    same ``--endpoint``); returns the program's namespace and function typenames.

    What a compile read and declared is kept in ``out``'s manifest (sfidl.outputs): a start
    with nothing changed imports no compiler and writes nothing.
    """
    wanted: dict[str, Any] = {
        "sfidl": __version__,
        "root": str(file.resolve()),
        "endpoint": endpoint,
    }
    record = made_from(out)
    if record is not None and all(record.get(key) == value for key, value in wanted.items()):
        namespace, functions = record.get("namespace"), record.get("functions")
        if (
            _unchanged(record.get("inputs"))
            and isinstance(namespace, str)
            and isinstance(functions, list)
            and all(isinstance(f, str) for f in functions)
        ):
            print(
                f"sfidl run: {out} is up to date with {file} and its imports (not compiled again)",
                file=sys.stderr,
            )
            return namespace, tuple(functions)
    from sfidl.compiler import compile_file

    compiled = compile_file(file, endpoint=endpoint)
    program = compiled.program
    typenames = tuple(f.typename for f in program.functions)
    inputs = {str(Path(name).resolve()): _digest(text) for name, text in compiled.sources.items()}
    record = {**wanted, "inputs": inputs, "namespace": program.namespace, "functions": typenames}
    try:
        write_outputs(out, compiled.files, record)
    except OSError as error:
        raise LaunchError(f"cannot write to {out}: {error.strerror or error}") from None
    return program.namespace, typenames


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _unchanged(inputs: object) -> bool:
    """Whether every recorded input file still holds the text it was compiled from (read as
    the front end reads it: UTF-8, without a byte order mark)."""
    if not isinstance(inputs, dict) or not inputs:
        return False
    for path, digest in inputs.items():
        try:
            text = Path(path).read_bytes().decode("utf-8").removeprefix("\ufeff")
        except (OSError, ValueError):
            return False
        if _digest(text) != digest:
            return False
    return True


def load_app(spec: str, *, search: tuple[Path, ...]) -> object:
    """The object named by ``MODULE[:OBJECT]`` (default object ``app``), importing from ``search``."""
    module_name, _, attribute = spec.partition(":")
    for folder in reversed(search):
        if str(folder.resolve()) not in sys.path:
            sys.path.insert(0, str(folder.resolve()))
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name != module_name:
            raise _user_error(f"importing {module_name}", error) from error
        raise LaunchError(f"cannot import the application module {module_name!r}") from None
    except Exception as error:  # the user's module failed: say where, not "a bug in sfidl"
        raise _user_error(f"importing {module_name}", error) from error
    name = attribute or "app"
    if not hasattr(module, name):
        raise LaunchError(
            f"{module_name} has no attribute {name!r} (give it as {module_name}:OBJECT)"
        )
    app = getattr(module, name)
    if callable(app) and not hasattr(app, "manifest"):
        try:
            app = app()
        except Exception as error:
            raise _user_error(f"calling {module_name}:{name}()", error) from error
    return app


def _user_error(doing: str, error: Exception) -> LaunchError:
    """A failure in the user's own code, with the place it was raised."""
    frames = traceback.extract_tb(error.__traceback__)
    where = f" ({frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    return LaunchError(f"{doing} failed: {type(error).__name__}: {error}{where}")


def check_app(app: object, program: Program) -> LocalApp:
    """``app``, once it is known to be an application of ``program`` (not of another or an older file)."""
    return _check_serves(app, program.namespace, tuple(f.typename for f in program.functions))


def _check_serves(app: object, namespace: str, expected: tuple[str, ...]) -> LocalApp:
    """``app``, once it is known to serve the functions ``expected`` of ``namespace``."""
    manifest = getattr(app, "manifest", None)
    if manifest is None or not hasattr(app, "handle"):
        raise LaunchError(f"{app!r} is not an sfidl application (a generated ...App instance)")
    if manifest.namespace != namespace or tuple(manifest.functions) != expected:
        raise LaunchError(
            f"the application serves {', '.join(manifest.functions)} of {manifest.namespace}, "
            f"but the file declares {', '.join(expected)} of {namespace}: "
            "was it built from another (or an older) compile?"
        )
    return cast(LocalApp, app)
