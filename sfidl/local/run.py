"""``sfidl run``: the local runtime as a process (HTTP ingress and egress, JSON-lines files, status log)."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from aiohttp import web

from sfidl.local import ingress
from sfidl.local.app import LocalApp
from sfidl.local.clock import Clock, SystemClock
from sfidl.local.egress import FileSink, StdoutSink, shared_topics
from sfidl.local.engine import Engine
from sfidl.local.errors import LocalRuntimeError
from sfidl.local.ingress import DeclaresIngress
from sfidl.local.server import EgressServer, OutOfFiles, egress_server, ingress_server
from sfidl.local.store import Store
from sfidl.local.transport import Http, InProcess, Transport

log = logging.getLogger("sfidl.local")

HOST = "127.0.0.1"


@dataclass(frozen=True)
class RunOptions:
    """How ``sfidl run`` runs an application."""

    db: Path = Path(".sfidl/local.sqlite")
    remote: bool = False  # call the functions over HTTP at ``endpoint`` instead of in-process
    endpoint: str | None = None  # overrides the manifest's endpoint
    # The HTTP ingress and egress ports on 127.0.0.1 (the playground image's); 0: any free
    # port; None: none.
    port: int | None = 8090
    egress_port: int | None = 8091
    # An idle HTTP connection (or a request body that stops arriving) is closed after this.
    idle_timeout_s: float = 30.0
    # How long an Idempotency-Key is remembered: a re-send within it queues nothing.
    idempotency_retention_s: float = 24 * 3600.0
    ingress_files: tuple[Path, ...] = ()
    follow: bool = True  # keep reading lines appended to the ingress files
    egress_dir: Path | None = None  # one <topic>.jsonl per topic or stream
    egress_stdout: bool = True
    status_interval_s: float = 10.0
    # Exit once the files are read, nothing is queued or in flight, and no delayed message is
    # due within ``idle_horizon_s`` (those further out stay in the database for the next run).
    stop_when_idle: bool = False
    idle_horizon_s: float = 60.0
    max_batch: int = 1000  # per batch; also the backlog per address at which ingress pauses
    max_in_flight: int = 64
    attempts: int = 5  # per request, before the function counts as failed
    call_timeout_s: float = 60.0  # per request, all attempts together (StateFun's ``call`` timeout)


class LocalRuntime:
    """The parts of a run, started and stopped together; :func:`serve` drives one."""

    def __init__(self, app: LocalApp, options: RunOptions) -> None:
        self.app = app
        self.options = options
        self._error: BaseException | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._runners: list[web.ServerRunner] = []
        self._transport: Transport | None = None
        self._engine: Engine | None = None
        self._store: Store | None = None
        self._stopped = False
        self.port: int | None = None
        """The HTTP ingress port actually bound, once started."""
        self.egress_port: int | None = None
        """The HTTP egress port actually bound, once started."""
        self.egress_server: EgressServer | None = None
        """The HTTP egress server, once started (how many reads wait for a record)."""

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise LocalRuntimeError("the local runtime is not started")
        return self._engine

    async def start(self) -> None:
        """Open the database, catch up the egress files, start the HTTP server and the file readers."""
        options, manifest = self.options, self.app.manifest
        clock = SystemClock()
        self._transport = self._make_transport(clock)
        self._store = Store(options.db)
        engine = Engine(
            manifest,
            self._transport,
            self._store,
            clock,
            max_batch=options.max_batch,
            max_in_flight=options.max_in_flight,
            attempts=options.attempts,
            retry_delay_s=0.1,
            call_timeout_s=options.call_timeout_s,
        )
        self._engine = engine
        if options.egress_dir is not None:
            files = FileSink(options.egress_dir, manifest)
            files.catch_up(self._store)
            engine.egress_observers.append(files.write)
        if options.egress_stdout:
            engine.egress_observers.append(StdoutSink(manifest).write)
        counts = self._store.counts()
        log.info(
            "database %s: %d queued, %d delayed, %d egress records",
            options.db,
            counts.queued,
            counts.delayed,
            counts.egress,
        )
        self._store.forget_ingress_keys(self._forget_before())
        takes = self.app.ingress_typenames if isinstance(self.app, DeclaresIngress) else None
        for shared, names in shared_topics(manifest).items():
            log.info(
                "topic %r is written by %s: GET /%s reads them all (the records say which"
                " egress wrote them), GET /<egress name> one egress's",
                shared,
                " and ".join(names),
                shared,
            )
        if options.port is not None:
            ingress_http = ingress_server(engine, takes, idle_timeout_s=options.idle_timeout_s)
            self.port = await self._serve(ingress_http, options.port)
            log.info(
                "ingress listening on http://%s:%d (POST /<namespace>/<type>/<id>"
                " with Content-Type application/vnd.<typename>)",
                HOST,
                self.port,
            )
        if options.egress_port is not None:
            egress_http = self.egress_server = egress_server(
                engine, idle_timeout_s=options.idle_timeout_s
            )
            self.egress_port = await self._serve(egress_http, options.egress_port)
            log.info(
                "egress listening on http://%s:%d (GET /<topic> pops a record)",
                HOST,
                self.egress_port,
            )
        follow = options.follow and not options.stop_when_idle
        for path in options.ingress_files:
            start = self._store.offset(str(path.resolve()))
            task = asyncio.get_running_loop().create_task(
                ingress.follow_file(
                    path,
                    manifest,
                    engine.enqueue,
                    start,
                    follow=follow,
                    takes=takes,
                    room=engine.room,
                    chunk=min(256, options.max_batch),
                )
            )
            task.add_done_callback(self._ingress_done)
            self._tasks.append(task)
        self._tasks.append(asyncio.get_running_loop().create_task(self._status()))

    def _make_transport(self, clock: Clock) -> Transport:
        if not self.options.remote:
            return InProcess(self.app, clock)
        endpoint = self.options.endpoint or self.app.manifest.endpoint
        if not endpoint:
            raise LocalRuntimeError(
                "--remote needs an endpoint: declare one in the .sfidl file or give --endpoint URL"
            )
        return Http(endpoint, timeout_s=self.options.call_timeout_s)

    async def _serve(self, server: web.Server, port: int) -> int:
        """Serve ``server`` on ``port``; returns the port bound."""
        runner = web.ServerRunner(server)
        await runner.setup()
        self._runners.append(runner)
        try:
            await web.TCPSite(runner, HOST, port).start()
        except (OSError, OverflowError) as exc:  # in use, not allowed; not a port number
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise LocalRuntimeError(f"cannot listen on {HOST}:{port}: {reason}") from None
        return int(runner.addresses[0][1])

    def _forget_before(self) -> int:
        return self.engine.clock.now_ms() - int(self.options.idempotency_retention_s * 1000)

    def _ingress_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self._error = task.exception()
            self.engine.stop()
        self.engine.wake()

    async def _status(self) -> None:
        while True:
            await asyncio.sleep(self.options.status_interval_s)
            store = self.engine.store
            store.purge_expired(self.engine.clock.now_ms())
            store.forget_ingress_keys(self._forget_before())
            c = store.counts()
            log.info(
                "processed %d messages; %d queued, %d delayed, %d egress records",
                c.processed,
                c.queued,
                c.delayed,
                c.egress,
            )

    def _files_read(self) -> bool:
        readers = self._tasks[: len(self.options.ingress_files)]
        return all(task.done() for task in readers)

    def _idle(self) -> bool:
        """Files read, nothing queued or in flight, no delayed message due within the horizon."""
        if not (self._files_read() and self.engine.quiet):
            return False
        next_fire = self.engine.store.next_fire_at()
        horizon_ms = self.engine.clock.now_ms() + int(self.options.idle_horizon_s * 1000)
        return next_fire is None or next_fire > horizon_ms

    async def _stop_when_idle(self, poll_s: float = 0.05) -> None:
        while not self._idle():
            await asyncio.sleep(poll_s)
        counts = self.engine.store.counts()
        next_fire = self.engine.store.next_fire_at()
        if next_fire is None:
            log.info("idle: nothing queued, in flight or delayed")
        else:
            due = datetime.fromtimestamp(next_fire / 1000, timezone.utc)
            log.info(
                "idle: %d delayed message(s) remain, none due within %gs (the next at %s);"
                " they stay in %s for the next run",
                counts.delayed,
                self.options.idle_horizon_s,
                due.isoformat(timespec="seconds"),
                self.options.db,
            )
        self.engine.stop()

    async def run(self) -> None:
        """Deliver until :meth:`stop` (or idle, with ``stop_when_idle``); raise what stopped the runtime."""
        if self._stopped:
            return
        if self.options.stop_when_idle:
            watcher = asyncio.get_running_loop().create_task(self._stop_when_idle())
            self._tasks.append(watcher)
        await self.engine.run()
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        """Make :meth:`run` return (or not start); batches in flight are committed by no one and re-run."""
        log.info("stopping")
        self._stopped = True
        if self._engine is not None:
            self._engine.stop()

    async def close(self) -> None:
        """Stop everything; batches in flight are not committed and run again on the next start."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._engine is not None:
            await self._engine.close()
        for runner in self._runners:
            await runner.cleanup()
        if self._transport is not None:
            await self._transport.close()
        if self._store is not None:
            counts = self._store.counts()
            log.info(
                "stopped: processed %d messages; %d queued, %d delayed",
                counts.processed,
                counts.queued,
                counts.delayed,
            )
            self._store.close()


async def serve(app: LocalApp, options: RunOptions) -> None:
    """Run ``app`` on the local runtime until SIGINT/SIGTERM (or idle, with ``stop_when_idle``).

    Raises :class:`LocalRuntimeError` (a :class:`JobFailure` for a function the real runtime
    would fail the job on; an :class:`IngressError` for a bad ingress file line).
    """
    runtime = LocalRuntime(app, options)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, runtime.stop)
    try:
        await runtime.start()
        await runtime.run()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await runtime.close()


def configure_logging() -> None:
    """Log to stderr, as ``sfidl run`` does, unless logging is configured already."""
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s sfidl run: %(message)s", stream=sys.stderr
        )
    logging.getLogger("asyncio").addFilter(OutOfFiles())


# The collector's first threshold: how many more allocations than frees start a collection
# (Python's default: 700), the older generations' coming after several of those. Measured on
# CPython 3.11 with 10,000 greeter messages: at 700, 636, 57 and 5 collections of the three
# generations (the last ones of the whole heap: protobuf's, aiohttp's, the SDK's objects),
# 3.4% of the server's instructions (valgrind); at 10,000: 108, 9 and 0. Cycles are still
# collected, in fewer, larger rounds.
YOUNG_COLLECTION = 10_000


@contextmanager
def fewer_collections() -> Iterator[None]:
    """The garbage collector's first threshold at :data:`YOUNG_COLLECTION` while a runtime
    serves; as it was afterwards."""
    thresholds = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION, *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


def run(app: LocalApp, options: RunOptions) -> None:
    """The synchronous entry point of ``sfidl run`` (logs to stderr unless logging is configured)."""
    configure_logging()
    with fewer_collections():
        asyncio.run(serve(app, options))
