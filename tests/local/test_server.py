"""The HTTP ingress and egress of ``sfidl run`` (the playground's requests), on 127.0.0.1 with an ephemeral port."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from statefun.types_pb2 import IntWrapper, StringWrapper

from sfidl.local import ingress
from sfidl.local.engine import unpack
from sfidl.local.errors import IngressError
from sfidl.local.run import LocalRuntime, RunOptions
from tests.local.apps import Increment, demo_app

VND = "application/vnd.type.googleapis.com/sfidl.demo.Increment"


@asynccontextmanager
async def running(db: Path) -> AsyncIterator[tuple[LocalRuntime, str]]:
    runtime = LocalRuntime(demo_app(), RunOptions(db=db, port=0, egress_stdout=False))
    await runtime.start()
    task = asyncio.create_task(runtime.run())
    try:
        yield runtime, f"http://127.0.0.1:{runtime.port}"
    finally:
        runtime.stop()
        await task
        await runtime.close()


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    for _ in range(500):
        if await check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("not reached within 5 s")


def test_http_ingress_queues_messages_and_egress_is_read_back(tmp_path):
    async def scenario() -> None:
        async with (
            running(tmp_path / "db.sqlite") as (runtime, url),
            aiohttp.ClientSession() as http,
        ):
            body = Increment(by=2).SerializeToString()
            async with http.post(
                f"{url}/demo/counter/a", data=body, headers={"Content-Type": VND}
            ) as r:
                assert r.status == 200, await r.text()
            async with http.post(
                f"{url}/demo/counter/a", data=b'{"by": 3}', headers={"Content-Type": VND + "+json"}
            ) as r:
                assert r.status == 200, await r.text()
            # JSON is accepted for a protobuf typename without +json too.
            async with http.post(
                f"{url}/demo/counter/b", data=b'{"by": 7}', headers={"Content-Type": VND}
            ) as r:
                assert r.status == 200, await r.text()

            async def three_records() -> bool:
                async with http.get(f"{url}/counts?all=1") as r:
                    return len(await r.json()) == 3

            await eventually(three_records)
            popped = []
            for _ in range(3):
                async with http.get(f"{url}/counts") as r:
                    assert r.status == 200 and r.content_type == "application/json"
                    popped.append(await r.json())
            async with http.get(f"{url}/counts") as r:
                assert r.status == 404 and "no record in 'counts'" in await r.text()
            async with http.get(f"{url}/nowhere") as r:
                assert (
                    r.status == 404
                    and "unknown topic 'nowhere' (declared: counts)" in await r.text()
                )
            values = sorted((p["key"], p["value"]["total"]) for p in popped)
            assert values == [
                ("a", "2"),
                ("a", "5"),
                ("b", "7"),
            ]  # int64 is a string in proto3 JSON
            assert {p["topic"] for p in popped} == {"counts"} and {p["egress"] for p in popped} == {
                "demo/counts"
            }
            # Popped records stay listed by ?all=1 (the listing does not pop).
            async with http.get(f"{url}/counts?all=1") as r:
                assert len(await r.json()) == 3

    asyncio.run(scenario())


def test_http_ingress_rejects_bad_requests_with_a_clear_4xx_and_applies_nothing(tmp_path):
    bad = [
        (
            "/demo/nobody/a",
            VND,
            Increment(by=1).SerializeToString(),
            404,
            "unknown function type 'demo/nobody' (known: demo/audit, demo/bad, demo/counter, demo/relay, demo/timers)",
        ),
        (
            "/demo/counter/a",
            VND,
            b"\xff\xff\xff",
            400,
            "malformed body: not a valid sfidl.demo.Increment",
        ),
        (
            "/demo/counter/a",
            VND + "+json",
            b'{"by": "many"}',
            400,
            "malformed body: not a valid sfidl.demo.Increment",
        ),
        ("/demo/counter/a", VND + "+json", b"{not json", 400, "malformed JSON body"),
        (
            "/demo/counter/a",
            "application/vnd.type.googleapis.com/sfidl.demo.Nope",
            b"",
            415,
            "unknown message type 'type.googleapis.com/sfidl.demo.Nope'",
        ),
        (
            "/demo/counter/a",
            "application/octet-stream",
            b"",
            415,
            "does not name the message type; send Content-Type: application/vnd.<typename>",
        ),
        (
            "/demo/counter",
            VND,
            b"",
            404,
            "/demo/counter: send messages to /<namespace>/<type>/<id>",
        ),
    ]

    async def scenario() -> None:
        async with (
            running(tmp_path / "db.sqlite") as (runtime, url),
            aiohttp.ClientSession() as http,
        ):
            for path, content_type, body, status, message in bad:
                async with http.post(
                    url + path, data=body, headers={"Content-Type": content_type}
                ) as r:
                    assert (r.status, message in await r.text()) == (status, True), (
                        path,
                        await r.text(),
                    )
            counts = runtime.engine.store.counts()
            assert (counts.queued, counts.processed) == (0, 0)

    asyncio.run(scenario())


def unpacked(content_type: str, body: bytes) -> tuple[str, bytes]:
    return unpack(ingress.from_http("demo", "bad", "z", content_type, body).argument)


def test_http_bodies_for_scalar_and_json_typenames():
    assert unpacked("application/vnd.io.statefun.types/int+json", b"5") == (
        "io.statefun.types/int",
        IntWrapper(value=5).SerializeToString(),
    )
    assert unpacked(
        "application/vnd.io.statefun.types/string", StringWrapper(value="s").SerializeToString()
    ) == (
        "io.statefun.types/string",
        StringWrapper(value="s").SerializeToString(),
    )
    # A make_json_type typename: the JSON text is the value; any other typename passes through as is.
    assert unpacked("application/vnd.example/Greet+json", b'{"name": "x"}') == (
        "example/Greet",
        b'{"name": "x"}',
    )
    assert unpacked("application/vnd.example/raw; charset=utf-8", b"anything") == (
        "example/raw",
        b"anything",
    )
    assert unpacked(VND, b'{"by": 4, "note": "n"}') == (
        "type.googleapis.com/sfidl.demo.Increment",
        Increment(by=4, note="n").SerializeToString(),
    )
    # Protobuf bytes that happen to be valid JSON (an unknown fixed32 field 5: b"-" + 4 bytes)
    # stay protobuf: only a JSON object is taken for a message's JSON.
    assert unpacked(VND, b"-1234") == ("type.googleapis.com/sfidl.demo.Increment", b"-1234")
    with pytest.raises(IngressError, match="not a valid io.statefun.sdk.types.IntWrapper"):
        unpacked("application/vnd.io.statefun.types/int+json", b'"five"')


@pytest.mark.parametrize(
    ("content_type", "why"),
    [
        ("application/vnd.plain", "'plain' is not a typename of the form namespace/name"),
        ("application/vnd.a/b/c+json", "'a/b/c' is not a typename of the form namespace/name"),
        ("application/vnd./x", "'/x' is not a typename of the form namespace/name"),
    ],
)
def test_http_ingress_rejects_a_malformed_typename(content_type, why):
    with pytest.raises(IngressError, match=why) as error:
        ingress.from_http("demo", "counter", "a", content_type, b"{}")
    assert error.value.status == 415
