"""The HTTP face of ``sfidl run``, as the StateFun playground image has it.

``POST /<namespace>/<type>/<id>`` with ``Content-Type: application/vnd.<typename>`` queues a
message (answered once it is durably queued; while a backlog is full the answer waits);
``GET /<topic>`` pops one egress record as JSON (404 when there is none) and
``GET /<topic>?all=1`` lists them without popping. A pop is committed before it is answered,
so a crash in between loses that record for the reader (it stays in the database and the
``?all=1`` listing), like the playground's in-memory egress.
"""

from __future__ import annotations

import json

from aiohttp import web

from sfidl.local import egress, ingress
from sfidl.local.engine import Engine
from sfidl.local.errors import IngressError


def _json(value: object, status: int = 200) -> web.Response:
    return web.Response(
        status=status,
        text=json.dumps(value, ensure_ascii=False) + "\n",
        content_type="application/json",
    )


def make_server(engine: Engine) -> web.Application:
    """The aiohttp application serving ingress and egress for ``engine``."""
    manifest = engine.manifest

    async def post(request: web.Request) -> web.Response:
        info = request.match_info
        try:
            incoming = ingress.from_http(
                info["namespace"],
                info["type"],
                info["id"],
                request.headers.get("Content-Type"),
                await request.read(),
            )
            await engine.room()  # backpressure: the request waits while a backlog is full
            engine.enqueue([incoming])
        except IngressError as exc:
            return web.Response(status=exc.status, text=f"{exc}\n")
        return web.Response(text=f"queued for {incoming.target}\n")

    async def bad_path(request: web.Request) -> web.Response:
        return web.Response(
            status=404, text=f"{request.path}: send messages to /<namespace>/<type>/<id>\n"
        )

    async def get(request: web.Request) -> web.Response:
        topic = request.match_info["topic"]
        if request.query.get("all"):
            return _json([egress.to_json(manifest, row) for row in engine.store.egress_of(topic)])
        row = engine.store.pop_egress(topic)
        if row is not None:
            return _json(egress.to_json(manifest, row))
        if egress.find_egress(manifest, topic) is None and not engine.store.egress_of(topic):
            topics = ", ".join(e.sink for e in manifest.egresses) or "none"
            return web.Response(status=404, text=f"unknown topic {topic!r} (declared: {topics})\n")
        return web.Response(status=404, text=f"no record in {topic!r}\n")

    app = web.Application()
    app.router.add_post("/{namespace}/{type}/{id}", post)
    app.router.add_post("/{tail:.*}", bad_path)
    app.router.add_get("/{topic}", get)
    return app
