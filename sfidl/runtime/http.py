"""The HTTP endpoint StateFun calls: the SDK's handler behind checks it lacks.

The SDK raises KeyError for an unknown function type and AttributeError for an empty
request; here they are 4xx answers that say what is wrong. A failure inside a function
is a 500, which StateFun retries.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from aiohttp import web
from google.protobuf.message import DecodeError
from statefun.request_reply_pb2 import ToFunction

if TYPE_CHECKING:
    from sfidl.runtime.app import Application

log = logging.getLogger("sfidl.runtime")

OCTET_STREAM = "application/octet-stream"


def web_app(app: Application, *, path: str = "/statefun") -> web.Application:
    """An aiohttp application answering StateFun's requests at ``path``."""

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        problem = check_request(app, body)
        if problem is not None:
            status, text = problem
            return web.Response(status=status, text=text + "\n")
        try:
            response = await app.handle(body)
        except Exception:
            log.exception("a function failed; StateFun will retry the invocation")
            return web.Response(status=500, text="the function failed; see the function's log\n")
        # Exactly this content type: StateFun rejects any parameter such as a charset.
        return web.Response(body=response, headers={"Content-Type": OCTET_STREAM})

    web_application = web.Application()
    web_application.router.add_post(path, handle)
    return web_application


def check_request(app: Application, body: bytes) -> tuple[int, str] | None:
    """The HTTP status and message for a request the SDK cannot handle, or None when it can."""
    if not body:
        return 400, "empty request: expected a serialized StateFun ToFunction message"
    message = ToFunction()
    try:
        message.ParseFromString(body)
    except DecodeError:
        return 400, "malformed request: not a serialized StateFun ToFunction message"
    if not message.HasField("invocation"):
        return 400, "the request carries no invocation"
    target = message.invocation.target
    typename = f"{target.namespace}/{target.type}"
    if typename not in app.typenames:
        served = ", ".join(app.typenames)
        return 404, f"unknown function type {typename}; this endpoint serves {served}"
    if not message.invocation.invocations:
        return 400, "the request carries an empty batch"
    return _state_problem(app, typename, message.invocation.state)


def _state_problem(
    app: Application, typename: str, states: Iterable[ToFunction.PersistedValue]
) -> tuple[int, str] | None:
    """A 400 for a declared state holding what the functions never wrote.

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
            return 400, f"{where} a {value.typename}, not the declared {statefun_type.typename}"
        try:
            statefun_type.serializer().deserialize(value.value)
        except (DecodeError, ValueError):
            return 400, f"{where} bytes that are no {statefun_type.typename}"
    return None
