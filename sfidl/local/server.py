"""The HTTP face of ``sfidl run``, as the StateFun playground image has it: ingress and egress,
each on its own port (8090 and 8091 in the generated ``module.playground.yaml``).

Ingress: any method to ``/<namespace>/<type>/<id>`` with ``Content-Type:
application/vnd.<typename>`` queues the body, as is, as a message of that typename; the
answer comes once it is durably queued (while a backlog is full, it waits). What the
function could never take (a typename no handler of the target takes, a body that does not
decode) is refused with a 4xx and the reason, where the image would queue it. An
``Idempotency-Key`` header makes a re-sent request a no-op, answered like the first.

Egress: any method to ``/<topic>`` pops one record and answers its payload (the message's
proto3 JSON); like the image, always with HTTP status 200 and the outcome in a ``Status:``
header (404: no record, 405: no such topic). Beyond the image: ``/<egress name or
typename>`` reads only that egress's records of its topic; ``?envelope=1`` answers the
record as a JSON envelope (``seq``, ``egress``, ``topic``, ``key``, ``value``) with real
HTTP statuses; ``?all=1`` lists every record as envelopes without popping; ``?max=N`` pops
up to N records in one answer (JSON lines: each record's payload, or its envelope when its
stored bytes do not decode; with ``?envelope=1`` envelopes, which say the egress);
``?wait=S`` waits up to S seconds for a record instead of answering "none" at once. ``max``
and ``wait`` are refused with ``all`` (400), and by HEAD and OPTIONS (405: records popped for
an answer without a body would be lost). A pop is committed (with the other writes of its
turn of the event loop) before it is answered, so a crash in between, or a reader that goes
away meanwhile, loses that record for the reader (it stays in the database and the
``?all=1`` listing), like the image's in-memory egress. A waiting read whose reader is gone
when a record arrives pops nothing; that check is best effort, made before the pop's commit.

Every answer carries ``Status:``; malformed requests get a 4xx and a reason, never a 500.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import HttpVersion11, web
from aiohttp.http_exceptions import HttpProcessingError

from sfidl.local import egress, ingress
from sfidl.local.engine import Engine
from sfidl.local.errors import IngressError
from sfidl.local.store import Incoming, IngressKey, StoredEgress


class _OneLine(logging.Filter):
    """A malformed request (bad HTTP, which aiohttp answers 400) is the client's mistake: one
    line at INFO, not an ERROR with a traceback per request."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            _one_line(record, error)
            record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
        return True


class OutOfFiles(logging.Filter):
    """For asyncio's log: out of file descriptors, a listener's failed accepts in one line a
    minute, with a count, instead of tracebacks by the thousand.

    CPython's accept loop goes on after an ``EMFILE`` and schedules a retry per failed
    accept, each of which fails again: a traceback per attempt, thousands a second, until
    idle connections time out. (Retries still pending when the listener closes fail once
    more, on the closed socket.)
    """

    def __init__(self, every_s: float = 60.0) -> None:
        super().__init__()
        self._every_s = every_s
        self._last = -every_s
        self._dropped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        accept = isinstance(error, OSError) and error.errno in (errno.EMFILE, errno.ENFILE)
        retry = isinstance(error, ValueError) and "_start_serving" in record.getMessage()
        if not (accept or retry) or error is None:
            return True
        if record.created - self._last < self._every_s:
            self._dropped += 1
            return False
        _one_line(record, error)
        if self._dropped:
            record.msg = f"{record.msg} ({self._dropped} more since the last such line)"
        self._last, self._dropped = record.created, 0
        return True


def _one_line(record: logging.LogRecord, error: BaseException) -> None:
    message = " ".join(record.getMessage().split())
    record.msg = f"{message}: {' '.join(str(error).split())}"
    record.args = None
    record.exc_info = None
    record.exc_text = None


HTTP_LOG = logging.getLogger("sfidl.local.http")
"""The servers' own log (aiohttp's ``logger``): malformed requests in one line each."""
HTTP_LOG.addFilter(_OneLine())

IDEMPOTENCY_KEY = "Idempotency-Key"
MAX_KEY = 255
# Marks the answer to a re-sent request that queued nothing (the first one did).
REPLAYED = "Idempotent-Replayed"


def _answer(status: int, text: str = "", *, line: int | None = None) -> web.Response:
    """A response with the outcome in ``Status:`` (the playground's convention) and, unless
    ``line`` says otherwise, in the status line too."""
    headers = _STATUS.get(status) or {"Status": str(status)}
    if not text:
        return web.Response(status=status if line is None else line, headers=headers)
    response = web.Response(
        status=status if line is None else line, body=text.encode("utf-8"), headers=headers
    )
    response.content_type = "text/plain"
    response.charset = "utf-8"
    return response


# The Status: header of the answers given by the thousand (web.Response copies it).
_STATUS = {status: {"Status": str(status)} for status in (200, 404)}


class _Server(web.Server):
    """aiohttp's low-level server: every request goes to one handler, with no application,
    router or middleware in between (a good part of aiohttp's work per request), plus the
    ``Expect: 100-continue`` answer an application would give and a hook run on shutdown."""

    def __init__(
        self,
        handler: Callable[[web.BaseRequest], Awaitable[web.StreamResponse]],
        *,
        idle_timeout_s: float,
        on_shutdown: Callable[[], None] | None = None,
    ) -> None:
        # A function, not a coroutine: a request without Expect awaits the handler directly.
        def handle(request: web.BaseRequest) -> Awaitable[web.StreamResponse]:
            if request.headers.get(EXPECT):  # as aiohttp's router: an empty Expect is none
                return _expecting(request, handler)
            return handler(request)

        # An idle connection, and the rest of a body nobody reads, wait the idle timeout at most.
        super().__init__(
            handle,
            access_log=None,
            logger=HTTP_LOG,
            keepalive_timeout=idle_timeout_s,
            lingering_time=idle_timeout_s,
        )
        self._on_shutdown = on_shutdown

    async def shutdown(self, timeout: float | None = None) -> None:
        """Run the hook (answer the requests that wait), then wait for the requests in progress."""
        if self._on_shutdown is not None:
            self._on_shutdown()
        await super().shutdown(timeout)


EXPECT = "Expect"


async def _expecting(
    request: web.BaseRequest,
    handler: Callable[[web.BaseRequest], Awaitable[web.StreamResponse]],
) -> web.StreamResponse:
    await _expect(request)
    return await handler(request)


async def _expect(request: web.BaseRequest) -> None:
    """What aiohttp's router does for ``Expect:``: ``100 Continue`` (the client then sends the
    body), or ``417`` for anything else (with ``Status:``, as every answer here)."""
    if request.version != HttpVersion11:
        return
    if request.headers[EXPECT].lower() != "100-continue":
        raise web.HTTPExpectationFailed(
            text=f"Unknown Expect: {request.headers[EXPECT]}", headers={"Status": "417"}
        )
    await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    request.writer.output_size = 0  # the answer proper has not started
    await request.writer.drain()


def ingress_server(
    engine: Engine, takes: ingress.Takes | None, *, idle_timeout_s: float
) -> web.Server:
    """The ingress server for ``engine``; ``takes`` says what each function takes (None:
    anything). A body must arrive within ``idle_timeout_s``, and idle connections are closed then.
    """
    functions = frozenset(engine.manifest.functions)
    if takes is not None:  # what an application's functions take does not change while it runs
        takes = functools.cache(takes)

    async def receive(request: web.BaseRequest) -> web.Response:
        try:
            target = ingress.address_of_path(request.path)
            if target.typename not in functions:
                known = ", ".join(sorted(functions))
                raise IngressError(
                    f"unknown function type {target.typename!r} (known: {known})", status=404
                )
            try:
                content = request.content
                if content.is_eof():  # all of the body came already: take it, no wait
                    body = content.read_nowait()  # taken: request.read() would now give b""
                    limit = request.client_max_size  # 0: none, as for request.read()
                    if limit and len(body) > limit:  # as request.read() refuses it
                        raise web.HTTPRequestEntityTooLarge(request.client_max_size, len(body))
                else:
                    async with asyncio.timeout(idle_timeout_s):
                        body = await request.read()
            except TimeoutError:
                raise IngressError(
                    f"the body did not arrive within {idle_timeout_s:g} s", status=408
                ) from None
            except web.RequestPayloadError as exc:  # e.g. a gzip Content-Encoding that is not
                # Nothing more of this body can be read: answer, then close the connection,
                # rather than have aiohttp try to drain it after the answer.
                request.content.feed_eof()
                cause = exc.__cause__ or exc
                refused = _answer(400, f"unreadable body: {' '.join(str(cause).split())}\n")
                refused.force_close()
                return refused
            incoming = ingress.from_http(
                target, request.headers.getall("Content-Type", []), body, takes
            )
            key = request.headers.get(IDEMPOTENCY_KEY)
            if key is not None and not (0 < len(key) <= MAX_KEY and ingress.is_utf8(key)):
                raise IngressError(
                    f"an {IDEMPOTENCY_KEY} is 1 to {MAX_KEY} characters of UTF-8, not {key!r:.80}"
                )
            if key is None:
                await engine.room()  # backpressure: the request waits while a backlog is full
                await engine.enqueue_grouped([incoming])
                return _answer(200)
            return await _once(engine, key, incoming)
        except IngressError as exc:
            return _answer(exc.status, f"{exc}\n")
        except web.HTTPException as exc:  # the body is over the size limit
            return _answer(exc.status, f"{exc.reason}\n")

    return _Server(receive, idle_timeout_s=idle_timeout_s)  # any path, control characters too


async def _once(engine: Engine, key: str, incoming: Incoming) -> web.Response:
    """Queue ``incoming`` unless a request was queued under ``key`` (then answer like it did)."""
    fingerprint = hashlib.sha256(f"{incoming.target}\n".encode() + incoming.argument).digest()
    first = engine.store.ingress_key(key)
    if first is None:
        await engine.room()
        now = engine.clock.now_ms()
        if await engine.enqueue_grouped([incoming], key=IngressKey(key, fingerprint, now)):
            return _answer(200)
        first = engine.store.ingress_key(key)  # a request with the same key came in meanwhile
    if first is not None and first.fingerprint != fingerprint:
        raise IngressError(
            f"the {IDEMPOTENCY_KEY} {key!r} was used for another request (another target or"
            " body); use a new key for a new message",
            status=422,
        )
    response = _answer(200)
    response.headers[REPLAYED] = "true"
    return response


MAX_RECORDS = 1000
"""The most records one egress read (``?max=N``) answers."""
MAX_WAIT_S = 30.0
"""The longest an egress read (``?wait=S``) waits for a record."""


class _Arrivals:
    """Wakes the egress reads waiting for a topic (``?wait=S``) when a batch that wrote to it
    has committed, and all of them when the server shuts down."""

    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}
        self.closed = False
        self.waiting = 0
        """How many reads wait for a record now."""

    def event(self, topic: str) -> asyncio.Event:
        """Set once a record of ``topic`` is committed after this call (or on shutdown)."""
        event = self._events.get(topic)
        if event is None:
            event = self._events[topic] = asyncio.Event()
        return event

    def written(self, rows: Sequence[StoredEgress]) -> None:
        for topic in {row.topic for row in rows}:
            event = self._events.pop(topic, None)
            if event is not None:
                event.set()

    def close(self) -> None:
        self.closed = True
        for event in self._events.values():
            event.set()
        self._events.clear()


def _count(text: str | None) -> int | None:
    """``?max=N``: a whole number of records from 1 to :data:`MAX_RECORDS` (None: not asked)."""
    if text is None:
        return None
    if not (text.isascii() and text.isdigit() and len(text) <= 4 and 0 < int(text) <= MAX_RECORDS):
        raise ValueError(
            f"max is a whole number of records from 1 to {MAX_RECORDS}, not {text!r:.40}"
        )
    return int(text)


def _seconds(text: str | None) -> float:
    """``?wait=S``: seconds from 0 to :data:`MAX_WAIT_S` (0: not asked)."""
    if text is None:
        return 0.0
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= MAX_WAIT_S:  # NaN included
        raise ValueError(f"wait is seconds from 0 to {MAX_WAIT_S:g}, not {text!r:.40}")
    return seconds


class EgressServer(_Server):
    """The egress server: :class:`_Server` that says how many of its reads wait for a record."""

    def __init__(
        self,
        handler: Callable[[web.BaseRequest], Awaitable[web.StreamResponse]],
        arrivals: _Arrivals,
        *,
        idle_timeout_s: float,
    ) -> None:
        super().__init__(handler, idle_timeout_s=idle_timeout_s, on_shutdown=arrivals.close)
        self._arrivals = arrivals

    @property
    def waiting(self) -> int:
        """How many reads (``?wait=S``) wait for a record now."""
        return self._arrivals.waiting


# Methods whose answer has no body (HEAD) or is not a read (OPTIONS): records they popped
# would be lost. The image pops one on any method; a read with max or wait is refused them.
_NO_BODY = frozenset({"HEAD", "OPTIONS"})


def egress_server(engine: Engine, *, idle_timeout_s: float) -> EgressServer:
    """The egress server for ``engine``; idle connections are closed after ``idle_timeout_s``."""
    manifest = engine.manifest
    shared = egress.shared_topics(manifest)
    arrivals = _Arrivals()
    engine.egress_observers.append(arrivals.written)

    async def pop(
        request: web.BaseRequest, found: egress.Reader, limit: int, wait_s: float
    ) -> list[StoredEgress]:
        """Up to ``limit`` records, waiting up to ``wait_s`` for a first one."""
        rows = await engine.pop_egress(found.topic, found.egress, limit)
        if rows or not wait_s:
            return rows
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while not arrivals.closed:
            arrived = arrivals.event(found.topic)
            if not engine.store.has_egress(found.topic, found.egress):
                arrivals.waiting += 1
                try:
                    async with asyncio.timeout_at(deadline):
                        await arrived.wait()
                except TimeoutError:
                    return []
                finally:
                    arrivals.waiting -= 1
            # A reader that went away would lose what it popped: leave the records. Best
            # effort: one that goes away during the pop's commit (below) loses them still.
            if arrivals.closed or request.transport is None or request.transport.is_closing():
                return []
            rows = await engine.pop_egress(found.topic, found.egress, limit)
            # Another read may have popped them first: wait again, not past the deadline.
            if rows or loop.time() >= deadline:
                return rows
        return []

    async def read(request: web.BaseRequest) -> web.Response:
        name = request.path[1:]
        found = egress.reader(manifest, name)
        query = request.query
        as_envelope = bool(query.get("envelope")) or bool(query.get("all"))
        if found is None:
            topics = ", ".join(sorted({e.sink for e in manifest.egresses})) or "none"
            names = ", ".join(e.typename for e in manifest.egresses) or "none"
            why = f"no topic or egress {name!r} (topics: {topics}; egresses: {names})"
            return _answer(405, f"{why}\n") if as_envelope else _silent(405, why)
        pops = "max" in query or "wait" in query
        if query.get("all"):
            if pops:
                why = "all=1 lists the records without popping: it takes no max or wait"
                return _answer(400, f"{why}\n")
            rows = [
                row
                for row in engine.store.egress_of(found.topic)
                if found.egress in (None, row.egress)
            ]
            response = _answer(200)
            response.text = (
                json.dumps([egress.to_json(manifest, row) for row in rows], ensure_ascii=False)
                + "\n"
            )
            response.content_type = "application/json"
            return response
        if pops and request.method in _NO_BODY:
            why = (
                f"{request.method} with max or wait would pop records nobody receives:"
                " read them with GET or POST"
            )
            refused = _answer(405, f"{why}\n")
            refused.headers["Allow"] = "GET, POST, PUT, PATCH, DELETE"
            refused.headers["Sfidl-Reason"] = why  # a HEAD's answer has no body
            return refused
        try:
            limit = _count(query.get("max"))
            wait_s = _seconds(query.get("wait"))
        except ValueError as exc:
            return _answer(400, f"{exc}\n")
        rows = await pop(request, found, limit or 1, wait_s)
        if not rows:
            why = f"no record in {name!r}"
            return _answer(404, f"{why}\n") if as_envelope else _silent(404, why)
        if limit is not None:  # JSON lines: payloads (no egress: envelopes say it) or envelopes
            response = _answer(200, line=200)
            if as_envelope:
                response.body = "".join(
                    egress.envelope_line(manifest, row) for row in rows
                ).encode()
            else:
                response.body = b"".join(egress.payload_line(manifest, row) for row in rows)
            response.content_type = "application/x-ndjson"
        elif as_envelope:
            response = _answer(200)
            response.text = egress.envelope_line(manifest, rows[0])
            response.content_type = "application/json"
            return response
        else:
            response = _answer(200, line=200)
            response.body = egress.payload(manifest, rows[0])
            # The image sends no Content-Type (aiohttp would say octet-stream): the payload is JSON.
            response.content_type = "application/json"
            response.headers["Sfidl-Egress"] = rows[0].egress
        if found.egress is None and found.topic in shared:
            response.headers["Sfidl-Shared-By"] = ", ".join(shared[found.topic])
        return response

    return EgressServer(read, arrivals, idle_timeout_s=idle_timeout_s)


def _silent(status: int, why: str) -> web.Response:
    """The playground's answer: status line 200, an empty body, the outcome in ``Status:``
    (and, beyond the image, the reason in ``Sfidl-Reason:``)."""
    response = _answer(status, line=200)
    response.headers["Sfidl-Reason"] = why.encode("ascii", "backslashreplace").decode("ascii")
    return response
