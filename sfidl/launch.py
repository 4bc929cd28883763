"""``sfidl run``: compile the program, import the user's application, run it locally."""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from pathlib import Path
from typing import cast

from sfidl.compiler import compile_file
from sfidl.local.app import LocalApp
from sfidl.model import Program
from sfidl.outputs import write_outputs


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
    compiled = compile_file(args.file, endpoint=args.endpoint)
    try:
        write_outputs(out, compiled.files)
    except OSError as error:
        raise LaunchError(f"cannot write to {out}: {error.strerror or error}") from None
    app = check_app(
        load_app(args.app, search=(out, Path.cwd(), args.file.parent)), compiled.program
    )
    try:
        run(app, options)
    except LocalRuntimeError as error:
        print(f"sfidl run: {error}", file=sys.stderr)
        return 1
    return 0


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
    manifest = getattr(app, "manifest", None)
    if manifest is None or not hasattr(app, "handle"):
        raise LaunchError(f"{app!r} is not an sfidl application (a generated ...App instance)")
    expected = tuple(f.typename for f in program.functions)
    if manifest.namespace != program.namespace or tuple(manifest.functions) != expected:
        raise LaunchError(
            f"the application serves {', '.join(manifest.functions)} of {manifest.namespace}, "
            f"but the file declares {', '.join(expected)} of {program.namespace}: "
            "was it built from another (or an older) compile?"
        )
    return cast(LocalApp, app)
