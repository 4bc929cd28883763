"""``sfidl run --reload``: the local runtime, restarted with a rebuilt application on each change.

The runtime keeps no state of its own outside its SQLite file, so a restart on the same
database keeps every function's state, the queues, the delayed messages and the egress
records; batches in flight when it stops are not committed and run again on the new
functions. The HTTP ports stay the ones first bound (``--port 0`` included).

On a change, the program is compiled again; on success its outputs are written and the
application's modules (those in its module's folder and the generated ones) are imported
afresh in this process. Protobuf's descriptor pool cannot replace a message definition it
holds, so when the generated messages themselves changed, the process starts itself again
(``exec``, same arguments, the ports pinned) instead. A failure at any step is reported and
the running functions stay; so does a failure of the first build, which waits for a change.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import logging
import os
import signal
import sys
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from types import ModuleType

from sfidl.compiler import compile_file
from sfidl.diagnostics import CompileError, render_all
from sfidl.launch import LaunchError, check_app, load_app
from sfidl.local.app import LocalApp
from sfidl.local.run import LocalRuntime, RunOptions, configure_logging, fewer_collections
from sfidl.outputs import write_outputs
from sfidl.watch import Watcher

log = logging.getLogger("sfidl.local")

# Modules never reloaded, even in the app's folder: sfidl itself and the installed packages.
_NOT_THE_APPS = tuple(
    Path(p).resolve() for p in (Path(__file__).parent, sys.prefix, sys.base_prefix)
)

Rebuild = Callable[[Watcher], LocalApp | None]
"""Compile and load the application again, naming the files to watch to ``Watcher.watch``;
None when that failed (the failure is reported, the running application is kept)."""


class NewProcess(Exception):
    """The generated messages changed: only a new process can load them."""


class Builder:
    """Compiles ``args.file`` into ``out`` and imports the application, again and again."""

    def __init__(self, args: argparse.Namespace, out: Path) -> None:
        self.args = args
        self.out = out
        self._generated = out.resolve()
        # The generated modules this process imported, by file name: their messages are in
        # protobuf's descriptor pool for good.
        self._pooled: dict[str, bytes] = {}
        # Kept across rebuilds: a module that failed to import is still one to watch.
        self._app_files: set[Path] = set()

    def _folder(self) -> Path:
        module = sys.modules.get(self.args.app.partition(":")[0])
        where = getattr(module, "__file__", None)
        return Path(where).resolve().parent if where else self.args.file.parent.resolve()

    def _own(self, module: ModuleType, folder: Path) -> Path | None:
        """The source of ``module`` if it is the application's or generated; None otherwise."""
        path = Path(getattr(module, "__file__", None) or "/").resolve()
        if path.suffix != ".py" or any(path.is_relative_to(p) for p in _NOT_THE_APPS):
            return None
        return path if path.is_relative_to(folder) or path.is_relative_to(self._generated) else None

    def _watched(self, program_files: Mapping[str, str]) -> set[Path]:
        folder = self._folder()
        for module in list(sys.modules.values()):
            path = self._own(module, folder)
            if path is not None and not path.is_relative_to(self._generated):
                self._app_files.add(path)
        return {self.args.file, *map(Path, program_files), *self._app_files}

    def build(self, watcher: Watcher) -> LocalApp | None:
        """:data:`Rebuild`; raises :class:`NewProcess` when the generated messages changed."""
        read: Mapping[str, str] = {}
        try:
            try:
                compiled = compile_file(self.args.file, endpoint=self.args.endpoint)
            except CompileError as error:
                read = error.sources
                print(error.render(), file=sys.stderr)
                return None
            read = compiled.sources
            for rendered in render_all(compiled.warnings, compiled.sources):
                print(rendered, file=sys.stderr)
            try:
                write_outputs(self.out, compiled.files)
            except OSError as error:
                print(
                    f"sfidl run: cannot write to {self.out}: {error.strerror or error}",
                    file=sys.stderr,
                )
                return None
            messages = {n: c for n, c in compiled.files.items() if n.endswith("_pb2.py")}
            if any(
                self._pooled.get(name, content) != content for name, content in messages.items()
            ):
                raise NewProcess
            self._forget_modules()
            try:
                app = load_app(self.args.app, search=(self.out, Path.cwd(), self.args.file.parent))
                return check_app(app, compiled.program)
            except LaunchError as error:
                print(f"sfidl run: {error}", file=sys.stderr)
                return None
            finally:
                for name, content in messages.items():
                    if name.removesuffix(".py") in sys.modules:
                        self._pooled.setdefault(name, content)
        finally:
            watcher.watch(self._watched(read))

    def _forget_modules(self) -> None:
        """Drop the application's modules, and their bytecode, so the next import reads their source.

        (A .pyc is trusted when the source's size and whole-second mtime match: an edit of
        the same length within a second would otherwise run the old code.)
        """
        importlib.invalidate_caches()
        folder = self._folder()
        for name, module in list(sys.modules.items()):
            path = self._own(module, folder)
            if path is None:
                continue
            del sys.modules[name]
            try:
                os.unlink(importlib.util.cache_from_source(str(path)))
            except (OSError, ValueError, NotImplementedError):
                pass


def run_reloading(args: argparse.Namespace, out: Path, options: RunOptions) -> None:
    """``sfidl run --reload`` until SIGINT or SIGTERM (or a runtime failure, raised)."""
    configure_logging()
    builder = Builder(args, out)
    watcher = Watcher()
    try:
        app = builder.build(watcher)
        while app is None:  # nothing to run yet: wait for a fix
            log.info("watching %d file(s) for a fix", len(watcher.files))
            signal.signal(signal.SIGTERM, _interrupt)
            watcher.wait()
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            app = builder.build(watcher)
        with fewer_collections():
            asyncio.run(serve_reloading(app, options, watcher, builder.build))
    except KeyboardInterrupt:
        return
    except NewProcess as restart:
        port, egress_port = restart.args or (options.port, options.egress_port)
        pinned = ["--port", str(port), "--egress-port", str(egress_port)]
        log.info("the generated messages changed: starting sfidl run again (state kept)")
        argv = [sys.executable, "-m", "sfidl", *args.argv, *pinned]
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(sys.executable, argv)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


async def _next_app(watcher: Watcher, rebuild: Rebuild) -> LocalApp:
    while True:
        await watcher.wait_async()
        log.info("a watched file changed: compiling")
        app = rebuild(watcher)
        if app is not None:
            return app
        log.info("keeping the running functions; watching %d file(s)", len(watcher.files))


async def serve_reloading(
    app: LocalApp, options: RunOptions, watcher: Watcher, rebuild: Rebuild
) -> None:
    """Run ``app`` until SIGINT/SIGTERM, restarting the runtime with ``rebuild``'s application on each change."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        while not stop.is_set():
            runtime = LocalRuntime(app, options)
            try:
                await runtime.start()
                # A restart binds the same ports, so clients keep their URLs.
                options = replace(options, port=runtime.port, egress_port=runtime.egress_port)
                log.info("watching %d file(s) for changes", len(watcher.files))
                running = loop.create_task(runtime.run())
                changed = loop.create_task(_next_app(watcher, rebuild))
                stopping = loop.create_task(stop.wait())
                await asyncio.wait(
                    {running, changed, stopping}, return_when=asyncio.FIRST_COMPLETED
                )
                for task in (changed, stopping):
                    task.cancel()
                runtime.stop()
                await running  # raises what stopped the runtime, if something did
                if changed.done() and not changed.cancelled():
                    try:
                        app = changed.result()
                    except NewProcess:  # the new process binds the ports this one had
                        raise NewProcess(options.port, options.egress_port) from None
                    log.info("restarting the functions with the new compile (state kept)")
            finally:
                await runtime.close()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
