"""The HTTP endpoint StateFun calls: the SDK's handler behind checks it lacks.

StateFun retries every answer but a 2xx until its ``call`` timeout and then fails the
whole job (docs/statefun.md#retries-and-failures), so what no retry can cure is answered
200 with a normal
``FromFunction``: a batch for a function type this application does not serve, or whose
state holds what no function wrote, is dead-lettered (:func:`~sfidl.runtime.dispatch.set_aside`),
as are messages no handler takes or that do not decode (dispatch). A failure of user code
is a 500, which StateFun retries from consistent state. Only bodies StateFun never sends
(empty, not a ``ToFunction``, no target) get a 4xx saying what is wrong, and a body over
the size limit a 413 and an error in the log naming the setting to raise.

The endpoint serves anything that answers requests like an
:class:`~sfidl.runtime.app.Application` (:class:`Served`), whose ``serve`` builds on it;
aiohttp is imported only when an endpoint is made, so that importing the runtime library
does not load it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from google.protobuf.message import DecodeError
from statefun.request_reply_pb2 import ToFunction

from sfidl.runtime.dispatch import set_aside
from sfidl.runtime.invocation import Deployment
from sfidl.wire import OCTET_STREAM

if TYPE_CHECKING:
    from aiohttp import web

log = logging.getLogger("sfidl.runtime")

MAX_BODY_BYTES = 256 * 1024 * 1024
"""The default limit on the size of a request to the endpoint: a StateFun batch.

A batch holds up to ``maxNumBatchRequests`` messages (1,000 by default) and every state of
the address. A function writes a state value or sends a message in a response, which the
runtime's Netty transport caps at ``payload_max_bytes`` (32 MiB by default): 256 MiB takes
1,000 messages of 200 KiB on average beside 32 MiB of state. aiohttp's own default, 1 MiB,
refuses an instance with a backlog of a few thousand small messages, for ever.
"""


class Served(Protocol):
    """What the endpoint needs of the functions it serves (an Application has it)."""

    @property
    def typenames(self) -> tuple[str, ...]: ...

    @property
    def deployment(self) -> Deployment: ...

    def state_types(self, typename: str) -> Mapping[str, Any]: ...

    async def handle(self, request: bytes) -> bytes: ...


def web_app(
    app: Served, *, path: str = "/statefun", max_body_bytes: int | None = MAX_BODY_BYTES
) -> web.Application:
    """An aiohttp application answering StateFun's requests at ``path``.

    Also at ``path/<anything>``, so an endpoint whose ``urlPathTemplate`` ends in
    ``/{function.name}`` works too (the function type is read from the request, as the SDK
    does). ``max_body_bytes`` limits a request's size (None: no limit).
    """
    from aiohttp import web

    async def handle(request: web.Request) -> web.Response:
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            log.error(
                "refused a request of %s bytes, over the limit of %d: StateFun retries it and"
                " then fails the job; raise max_body_bytes of serve() or web_app()",
                request.content_length,
                max_body_bytes,
            )
            raise
        answer = answer_without_functions(app, body)
        if isinstance(answer, bytes):
            return web.Response(body=answer, headers={"Content-Type": OCTET_STREAM})
        if answer is not None:
            status, text = answer
            return web.Response(status=status, text=text + "\n")
        try:
            response = await app.handle(body)
        except Exception:
            log.exception("a function failed; StateFun will retry the invocation")
            return web.Response(status=500, text="the function failed; see the function's log\n")
        # Exactly this content type: StateFun rejects any parameter such as a charset.
        return web.Response(body=response, headers={"Content-Type": OCTET_STREAM})

    # aiohttp reads 0 as "no limit".
    web_application = web.Application(client_max_size=max_body_bytes or 0)
    web_application.router.add_post(path, handle)
    web_application.router.add_post(path.rstrip("/") + "/{function}", handle)
    return web_application


def answer_without_functions(app: Served, body: bytes) -> tuple[int, str] | bytes | None:
    """What to answer ``body`` without running a function, or None to run them.

    ``FromFunction`` bytes for a batch no function can take; an HTTP status and message for
    a body StateFun never sends.
    """
    if not body:
        return 400, "empty request: expected a serialized StateFun ToFunction message"
    message = ToFunction()
    try:
        message.ParseFromString(body)
    except DecodeError:
        return 400, "malformed request: not a serialized StateFun ToFunction message"
    if not message.HasField("invocation"):
        return 400, "the request carries no invocation"
    batch = message.invocation
    target = batch.target
    if not target.namespace or not target.type:
        return 400, "the request names no target function"
    if not batch.invocations:
        return b""  # nothing to do: no effects
    typename = f"{target.namespace}/{target.type}"
    if typename not in app.typenames:
        served = ", ".join(app.typenames)
        reason = f"this application serves no function {typename} (it serves {served})"
        return set_aside(app.deployment, batch, reason)
    problem = _state_problem(app, typename, batch.state)
    if problem is not None:
        return set_aside(app.deployment, batch, problem)
    return None


def _state_problem(
    app: Served, typename: str, states: Iterable[ToFunction.PersistedValue]
) -> str | None:
    """Why a declared state holds what the functions never wrote, or None.

    StateFun sends only the typenames it registered and the bytes the functions wrote; the
    SDK would raise on anything else, a 500 that no retry cures.
    """
    declared = app.state_types(typename)
    for state in states:
        statefun_type = declared.get(state.state_name)
        value = state.state_value
        if statefun_type is None or not value.has_value:
            continue
        where = f"state {state.state_name} of {typename} holds"
        if value.typename != statefun_type.typename:
            return f"{where} a {value.typename}, not the declared {statefun_type.typename}"
        try:
            statefun_type.serializer().deserialize(value.value)
        except (DecodeError, ValueError):
            return f"{where} bytes that are no {statefun_type.typename}"
    return None
