"""The HTTP ingress and egress of ``sfidl run``, as the StateFun playground image serves them.

Each runtime binds 127.0.0.1 on ephemeral ports; every wait has a deadline.
"""

from __future__ import annotations

import asyncio
import gzip
import random
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock

import aiohttp
import pytest
from aiohttp import web
from aiohttp.streams import StreamReader
from aiohttp.test_utils import make_mocked_request
from google.protobuf import json_format

from sfidl.local import ingress
from sfidl.local.engine import unpack
from sfidl.local.errors import IngressError
from sfidl.local.records import Address
from sfidl.local.run import LocalRuntime, RunOptions
from sfidl.local.server import ingress_server
from tests.local.apps import Increment, demo_app

DEADLINE_S = 5.0
ADD = "application/vnd.type.googleapis.com/test.http_local.Add"


@asynccontextmanager
async def running(app: Any, db: Path, **options: Any) -> AsyncIterator[LocalRuntime]:
    runtime = LocalRuntime(
        app, RunOptions(db=db, port=0, egress_port=0, egress_stdout=False, **options)
    )
    await runtime.start()
    task = asyncio.create_task(runtime.run())
    try:
        yield runtime
    finally:
        runtime.stop()
        await task
        await runtime.close()


def urls(runtime: LocalRuntime) -> tuple[str, str]:
    return f"http://127.0.0.1:{runtime.port}", f"http://127.0.0.1:{runtime.egress_port}"


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    deadline = asyncio.get_running_loop().time() + DEADLINE_S
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "not reached in time"
        await asyncio.sleep(0.01)


async def processed(runtime: LocalRuntime, count: int) -> None:
    async def done() -> bool:
        return runtime.engine.store.counts().processed >= count and runtime.engine.quiet

    await eventually(done)


def payload(pb: ModuleType, id: str, total: int) -> bytes:
    """What the image's egress answers for a Count an sfidl app wrote with playground=True."""
    count = pb.Count(id=id, total=total)
    text: str = json_format.MessageToJson(count, indent=None, preserving_proto_field_name=True)
    return text.encode()


def test_ingress_and_egress_answer_as_the_playground_image(tmp_path, http_local):
    import http_local_pb2 as pb

    async def scenario() -> None:
        async with (
            running(http_local.app(), tmp_path / "db.sqlite") as runtime,
            aiohttp.ClientSession() as http,
        ):
            ingress_url, egress_url = urls(runtime)
            requests = [
                # Protobuf bytes; proto3 JSON under <typename>+json (JSON names or .proto names);
                # any method, a final / ignored, as the image splits the path.
                ("POST", "/test.http_local/counter/a", ADD, pb.Add(by=2).SerializeToString()),
                ("POST", "/test.http_local/counter/a", ADD + "+json", b'{"by": "3"}'),
                ("PUT", "/test.http_local/counter/b/", ADD + "+json", b'{"by": 7}'),
            ]
            for method, path, content_type, body in requests:
                async with http.request(
                    method, ingress_url + path, data=body, headers={"Content-Type": content_type}
                ) as r:
                    assert (r.status, r.headers["Status"], await r.read()) == (200, "200", b"")
            await processed(runtime, 3)
            popped = []
            for _ in range(3):
                async with http.get(f"{egress_url}/counts") as r:
                    assert (r.status, r.headers["Status"]) == (200, "200")
                    assert r.headers["Sfidl-Egress"] == "test.http_local/counts"
                    popped.append(await r.read())
            assert sorted(popped) == sorted(
                [payload(pb, "a", 2), payload(pb, "a", 5), payload(pb, "b", 7)]
            )
            # Nothing left: status line 200, an empty body, 404 in Status:; an unknown topic 405.
            async with http.get(f"{egress_url}/counts") as r:
                assert (r.status, r.headers["Status"], await r.read()) == (200, "404", b"")
            async with http.post(f"{egress_url}/nowhere") as r:
                assert (r.status, r.headers["Status"], await r.read()) == (200, "405", b"")
                assert r.headers["Sfidl-Reason"] == (
                    "no topic or egress 'nowhere' (topics: counts, dead-letters;"
                    " egresses: test.http_local/counts, test.http_local/audit,"
                    " test.http_local/dead)"
                )

    asyncio.run(scenario())


def test_the_egress_payload_is_what_the_app_writes_for_the_playground_image(http_local):
    """The same bytes as the ``payload`` of the EgressRecord ``Application(playground=True)`` emits."""
    import http_local_pb2 as pb
    import http_local_sfidl as gen
    from statefun.request_reply_pb2 import FromFunction

    from sfidl.local.egress import payload as local_payload
    from sfidl.local.store import StoredEgress
    from tests.protocol import Driver

    app = gen.HttpLocalApp(counter=http_local.Counter(), playground=True)
    result: FromFunction.InvocationResponse = Driver(app).invoke(
        http_local.COUNTER, "a", pb.Add(by=2, audit=True)
    )
    records = [json_format_loads(e.argument.value) for e in result.outgoing_egresses]
    assert [r["topic"] for r in records] == ["counts", "counts"]
    stored = StoredEgress(
        1, "test.http_local/counts", "counts", "a", pb.Count(id="a", total=2).SerializeToString()
    )
    assert local_payload(gen.MANIFEST, stored) == records[0]["payload"].encode()


def json_format_loads(data: bytes) -> dict[str, str]:
    import json

    loaded: dict[str, str] = json.loads(data)
    return loaded


def test_egress_conveniences_envelopes_listing_and_reading_one_egress_of_a_shared_topic(
    tmp_path, http_local, caplog
):
    async def scenario() -> None:
        async with (
            running(http_local.app(), tmp_path / "db.sqlite") as runtime,
            aiohttp.ClientSession() as http,
        ):
            ingress_url, egress_url = urls(runtime)
            for by, audit in ((1, True), (2, False), (3, True)):
                body = f'{{"by": {by}, "audit": {str(audit).lower()}}}'.encode()
                async with http.post(
                    f"{ingress_url}/test.http_local/counter/a",
                    data=body,
                    headers={"Content-Type": ADD + "+json"},
                ) as r:
                    assert r.status == 200, await r.text()
            await processed(runtime, 3)
            # Two egresses write the topic "counts": /counts reads both and says so ...
            async with http.get(f"{egress_url}/counts") as r:
                assert (
                    r.headers["Sfidl-Shared-By"] == "test.http_local/counts, test.http_local/audit"
                )
                assert (r.headers["Sfidl-Egress"], await r.json()) == (
                    "test.http_local/counts",
                    {"id": "a", "total": "1"},
                )
            # ... an egress's name or typename reads only its own records.
            totals = []
            for name in ("audit", "test.http_local/audit", "audit"):
                async with http.get(f"{egress_url}/{name}") as r:
                    totals.append((r.headers["Status"], await r.read()))
            assert totals == [
                ("200", b'{"id": "a", "total": "1"}'),
                ("200", b'{"id": "a", "total": "6"}'),
                ("404", b""),
            ]
            # ?envelope=1: the record with its sequence number, key and egress; real statuses.
            async with http.get(f"{egress_url}/counts?envelope=1") as r:
                assert (r.status, r.content_type) == (200, "application/json")
                assert await r.json() == {
                    "seq": 3,
                    "egress": "test.http_local/counts",
                    "topic": "counts",
                    "key": "a",
                    "value": {"id": "a", "total": "3"},
                }
            async with http.get(f"{egress_url}/counts?envelope=1") as r:
                assert (r.status, r.headers["Status"], r.content_type) == (
                    200,
                    "200",
                    "application/json",
                )
            async with http.get(f"{egress_url}/counts?envelope=1") as r:
                assert (r.status, await r.text()) == (404, "no record in 'counts'\n")
            async with http.get(f"{egress_url}/nowhere?envelope=1") as r:
                assert r.status == 405 and "no topic or egress 'nowhere'" in await r.text()
            # ?all=1 lists without popping, per topic or per egress.
            async with http.get(f"{egress_url}/counts?all=1") as r:
                assert [e["seq"] for e in await r.json()] == [1, 2, 3, 4, 5]
            async with http.get(f"{egress_url}/audit?all=1") as r:
                assert [e["egress"] for e in await r.json()] == ["test.http_local/audit"] * 2

    with caplog.at_level("INFO", logger="sfidl.local"):
        asyncio.run(scenario())
    assert (
        "topic 'counts' is written by test.http_local/counts and test.http_local/audit:"
        " GET /counts reads them all" in caplog.text
    )


NO_HANDLER = "no handler of test.http_local/counter takes "
TAKES = (
    "; it takes type.googleapis.com/test.http_local.Add"
    " (protobuf bytes; with +json after the typename, proto3 JSON)"
)
REFUSED = [
    # (path, Content-Type, body, status, the reason)
    (
        "/test.http_local/nobody/a",
        ADD,
        b"",
        404,
        "unknown function type 'test.http_local/nobody' (known: test.http_local/counter)",
    ),
    ("/test.http_local/counter", ADD, b"", 404, "send messages to /<namespace>/<type>/<id>"),
    ("/a/b/c/d", ADD, b"", 404, "/a/b/c/d: send messages to /<namespace>/<type>/<id>"),
    # No handler takes it: an rpc's call envelope (from an ingress nobody gets the reply) ...
    (
        "/test.http_local/counter/a",
        "application/vnd.type.googleapis.com/test.http_local.CounterGetCall",
        b"",
        415,
        NO_HANDLER + "'type.googleapis.com/test.http_local.CounterGetCall' from an ingress" + TAKES,
    ),
    # ... no vnd Content-Type (the image then takes the body as a string) ...
    (
        "/test.http_local/counter/a",
        "application/json",
        b"{}",
        415,
        NO_HANDLER + "'io.statefun.types/string' from an ingress (no Content-Type"
        " application/vnd.<typename> was sent, and the playground then reads the body as"
        " io.statefun.types/string)" + TAKES,
    ),
    # ... parameters, which the image keeps in the typename.
    (
        "/test.http_local/counter/a",
        ADD + "+json; charset=utf-8",
        b"{}",
        415,
        "(everything after application/vnd. is the typename, parameters included: drop the ;...)",
    ),
    (
        "/test.http_local/counter/a",
        ADD,
        b'{"by": 1}',
        400,
        "malformed body: not a valid test.http_local.Add: Error parsing message with type"
        " 'test.http_local.Add': Wire format was corrupt (a JSON body? send it as Content-Type:"
        " application/vnd.type.googleapis.com/test.http_local.Add+json)",
    ),
    (
        "/test.http_local/counter/a",
        ADD + "+json",
        b'{"by": 1',
        400,
        "malformed JSON body for test.http_local.Add: Failed to load JSON: Expecting ','"
        " delimiter: line 1 column 9 (char 8).",
    ),
    (
        "/test.http_local/counter/a",
        ADD + "+json",
        b'{"by": "many"}',
        400,
        "malformed JSON body for test.http_local.Add: Failed to parse by field",
    ),
    (
        "/test.http_local/counter/a",
        ADD + "+json",
        b'{"bye": 1}',
        400,
        'Message type "test.http_local.Add" has no field named "bye"',
    ),
    (
        "/test.http_local/counter/a",
        ADD + "+json",
        b'{"by": ' * 100_000,
        400,
        "malformed JSON body for test.http_local.Add: Failed to load JSON: maximum recursion depth",
    ),
    (
        "/test.http_local/counter/a",
        ADD,
        bytes(1024 * 1024 + 1),
        413,
        "Request Entity Too Large",
    ),
    (
        "/test.http_local/counter/a",
        ADD + "+json",
        b"\xff",
        400,
        "malformed JSON body for test.http_local.Add: 'utf-8' codec can't decode byte 0xff",
    ),
]


@pytest.mark.parametrize(("path", "content_type", "body", "status", "why"), REFUSED)
def test_the_ingress_refuses_what_the_function_could_never_take_with_a_4xx_and_the_reason(
    tmp_path, http_local, path, content_type, body, status, why
):
    async def scenario() -> None:
        async with (
            running(http_local.app(), tmp_path / "db.sqlite") as runtime,
            aiohttp.ClientSession() as http,
        ):
            ingress_url, _ = urls(runtime)
            async with http.post(
                ingress_url + path, data=body, headers={"Content-Type": content_type}
            ) as r:
                text = await r.text()
                assert (r.status, r.headers["Status"]) == (status, str(status)), text
                assert why in text
            counts = runtime.engine.store.counts()
            assert (counts.queued, counts.processed) == (0, 0)

    asyncio.run(scenario())


async def raw_request(port: int, request: bytes) -> bytes:
    """Send ``request`` as bytes (no client library would send them) and read the whole answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    try:
        async with asyncio.timeout(DEADLINE_S):
            return await reader.read()
    finally:
        writer.close()


def test_malformed_http_gets_a_4xx_with_a_reason_and_one_log_line(tmp_path, http_local, caplog):
    async def scenario() -> list[bytes]:
        async with running(http_local.app(), tmp_path / "db.sqlite") as runtime:
            assert runtime.port is not None and runtime.egress_port is not None
            return [
                await raw_request(
                    runtime.port,
                    b"POST /test.http_local/counter/a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                    b"Content-Type: application/vnd.\xff\xfe/Add\r\nContent-Length: 0\r\n\r\n",
                ),
                await raw_request(
                    runtime.port,
                    b"POST /test.http_local/co\xffunter/a HTTP/1.1\r\nHost: x\r\n\r\n",
                ),
                await raw_request(
                    runtime.egress_port, b"GET /cou\xffnts HTTP/1.1\r\nHost: x\r\n\r\n"
                ),
                await raw_request(
                    runtime.port,
                    b"POST /test.http_local/counter/a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                    b"Content-Type: " + ADD.encode() + b"\r\nIdempotency-Key: \xff\r\n"
                    b"Content-Length: 0\r\n\r\n",
                ),
            ]

    with caplog.at_level("INFO"):
        bad_type, bad_path, bad_topic, bad_key = asyncio.run(scenario())
    assert bad_key.startswith(b"HTTP/1.1 400 ") and b"an Idempotency-Key is 1 to 255" in bad_key
    assert bad_type.startswith(b"HTTP/1.1 415 ") and b"\r\nStatus: 415\r\n" in bad_type
    assert b"the typename in the Content-Type, '\\udcff\\udcfe/Add', is not UTF-8" in bad_type
    for answer in (bad_path, bad_topic):
        assert (
            answer.startswith(b"HTTP/1.0 400 Bad Request") and b"Invalid char in url path" in answer
        )
    assert "Traceback" not in caplog.text and not any(r.exc_info for r in caplog.records)
    assert "Invalid char in url path" in caplog.text


def test_idle_connections_and_stalled_bodies_are_closed_after_the_idle_timeout(
    tmp_path, http_local
):
    async def scenario() -> tuple[bytes, bytes, bytes]:
        async with running(http_local.app(), tmp_path / "db.sqlite", idle_timeout_s=0.2) as runtime:
            assert runtime.port is not None and runtime.egress_port is not None
            silent = await raw_request(runtime.port, b"")  # connects, never sends
            half = await raw_request(runtime.egress_port, b"GET /counts HTTP/1.1\r\nHo")
            stalled = await raw_request(
                runtime.port,
                b"POST /test.http_local/counter/a HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: " + ADD.encode() + b"\r\nContent-Length: 10\r\n\r\n\x08",
            )
            return silent, half, stalled

    silent, half, stalled = asyncio.run(scenario())
    assert (silent, half) == (b"", b"")  # closed by the server, within the deadline
    assert (
        stalled.startswith(b"HTTP/1.1 408 ") and b"the body did not arrive within 0.2 s" in stalled
    )


def test_an_idempotency_key_makes_a_resent_request_a_no_op_across_restarts(tmp_path, http_local):
    db = tmp_path / "db.sqlite"
    body = b'{"by": 1}'

    async def post(
        http: aiohttp.ClientSession, url: str, key: str, data: bytes
    ) -> tuple[int, str, str]:
        async with http.post(
            f"{url}/test.http_local/counter/a",
            data=data,
            headers={"Content-Type": ADD + "+json", "Idempotency-Key": key},
        ) as r:
            return r.status, r.headers.get("Idempotent-Replayed", ""), await r.text()

    async def scenario() -> None:
        async with running(http_local.app(), db) as runtime, aiohttp.ClientSession() as http:
            url, _ = urls(runtime)
            assert await post(http, url, "k1", body) == (200, "", "")
            assert await post(http, url, "k1", body) == (200, "true", "")  # answered like the first
            assert await post(http, url, "k2", body) == (200, "", "")
            status, _, why = await post(http, url, "k1", b'{"by": 2}')
            assert status == 422 and "the Idempotency-Key 'k1' was used for another request" in why
            status, _, why = await post(http, url, "k" * 256, body)
            assert status == 400 and "an Idempotency-Key is 1 to 255 characters of UTF-8" in why
            await processed(runtime, 2)
        async with running(http_local.app(), db) as runtime, aiohttp.ClientSession() as http:
            url, _ = urls(runtime)
            assert await post(http, url, "k1", body) == (200, "true", "")  # durable
            assert runtime.engine.store.state(Address("test.http_local", "counter", "a"), 0)
            assert runtime.engine.store.counts().processed == 2
        async with (
            running(http_local.app(), db, idempotency_retention_s=0) as runtime,
            aiohttp.ClientSession() as http,
        ):
            url, _ = urls(runtime)
            assert await post(http, url, "k1", body) == (200, "", "")  # forgotten: queued again
            await processed(runtime, 3)

    asyncio.run(scenario())


def test_an_application_that_does_not_say_what_it_takes_gets_any_well_formed_message(tmp_path):
    """A plain SDK application (no ``ingress_typenames``): only the body is checked."""
    vnd = "application/vnd.type.googleapis.com/sfidl.demo.Increment"

    async def scenario() -> None:
        async with (
            running(demo_app(), tmp_path / "db.sqlite") as runtime,
            aiohttp.ClientSession() as http,
        ):
            url, egress_url = urls(runtime)
            async with http.post(
                f"{url}/demo/counter/a",
                data=Increment(by=2).SerializeToString(),
                headers={"Content-Type": vnd},
            ) as r:
                assert r.status == 200
            async with http.post(
                f"{url}/demo/counter/a", data=b"\xff\xff\xff", headers={"Content-Type": vnd}
            ) as r:
                assert r.status == 400 and "not a valid sfidl.demo.Increment" in await r.text()
            await processed(runtime, 1)
            async with http.get(f"{egress_url}/counts") as r:
                assert await r.json() == {"id": "a", "total": "2"}

    asyncio.run(scenario())


def test_the_typename_is_read_from_the_content_type_as_the_image_reads_it():
    read = ingress.typename_of_request
    assert read(["application/vnd.example/Greet"]) == "example/Greet"
    assert read(["text/plain", "application/vnd.a/b; charset=utf-8"]) == "a/b; charset=utf-8"
    assert read(["Application/Vnd.a/b"]) == "io.statefun.types/string"  # case-sensitive
    assert read([]) == "io.statefun.types/string"
    target = Address("demo", "bad", "z")
    incoming = ingress.from_http(target, ["application/vnd.example/raw"], b"anything")
    assert unpack(incoming.argument) == ("example/raw", b"anything")  # passed on as is


@pytest.mark.parametrize(
    ("content_type", "why"),
    [
        ("application/vnd.plain", "'plain' is not a typename of the form namespace/name"),
        ("application/vnd.a/b/c+json", "'a/b/c+json' is not a typename of the form namespace/name"),
        ("application/vnd./x", "'/x' is not a typename of the form namespace/name"),
        (
            "application/vnd.type.googleapis.com/sfidl.demo.Nope+json",
            "unknown message type 'type.googleapis.com/sfidl.demo.Nope+json'",
        ),
    ],
)
def test_without_what_the_app_takes_a_malformed_typename_is_refused(content_type, why):
    with pytest.raises(IngressError, match=re.escape(why)) as error:
        ingress.from_http(Address("demo", "counter", "a"), [content_type], b"{}")
    assert error.value.status == 415


def test_paths_are_split_as_the_image_splits_them():
    assert ingress.address_of_path("/a/b/c") == Address("a", "b", "c")
    assert ingress.address_of_path("/a/b/c//") == Address("a", "b", "c")
    for bad in ("/a/b", "/a/b/", "/a/b/c/d", "/"):
        with pytest.raises(IngressError) as error:
            ingress.address_of_path(bad)
        assert error.value.status == 404


def test_every_path_gets_an_answer_with_a_status_header(tmp_path, http_local):
    """Control characters (percent-encoded) in a path, too: no route is left to answer a bare 404."""

    async def scenario() -> None:
        async with (
            running(http_local.app(), tmp_path / "db.sqlite") as runtime,
            aiohttp.ClientSession() as http,
        ):
            ingress_url, egress_url = urls(runtime)
            async with http.get(f"{egress_url}/a%0D%0Ab") as r:
                assert (r.status, r.headers["Status"]) == (200, "405")
                assert r.headers["Sfidl-Reason"].startswith("no topic or egress 'a\\r\\nb'")
            async with http.post(f"{ingress_url}/a%0D%0A/b/c") as r:
                assert (r.status, r.headers["Status"]) == (404, "404")
                assert "unknown function type 'a\\r\\n/b'" in await r.text()

    asyncio.run(scenario())


def test_a_compressed_body_is_read_and_a_corrupt_one_refused(tmp_path, http_local, caplog):
    async def scenario() -> None:
        async with (
            running(http_local.app(), tmp_path / "db.sqlite") as runtime,
            aiohttp.ClientSession() as http,
        ):
            url = f"{urls(runtime)[0]}/test.http_local/counter/a"
            for encoding, body, status in [
                ("gzip", gzip.compress(b'{"by": 2}'), 200),
                ("gzip", b"not gzip", 400),
                ("deflate", b"not deflate", 400),
            ]:
                headers = {"Content-Type": ADD + "+json", "Content-Encoding": encoding}
                async with http.post(url, data=body, headers=headers) as r:
                    text = await r.text()
                    assert (r.status, r.headers["Status"]) == (status, str(status)), text
                    assert status == 200 or text.startswith("unreadable body: ")
            await processed(runtime, 1)

    asyncio.run(scenario())
    assert not [r for r in caplog.records if r.exc_info or r.levelname == "ERROR"]


def test_no_request_of_random_bytes_gets_a_5xx(tmp_path, http_local):
    """Seeded random requests — paths, Content-Types, keys and bodies from bytes that are
    plausible, malformed or hostile — are each answered below 500, ingress and egress."""
    rng = random.Random(8)
    pieces = [
        b"test.http_local",
        b"counter",
        b"a",
        b"",
        b"%FF",
        b"%0D%0A",
        b"\xc3\xa9",
        b"..",
        b"x" * 300,
    ]
    content_types = [
        ADD.encode(), ADD.encode() + b"+json", b"application/vnd.", b"application/vnd.\xff",
        b"text/plain", ADD.encode() + b"+json; charset=utf-8", b"application/vnd.a/b/c",
    ]  # fmt: skip
    bodies = [
        b"", b"{}", b'{"by": 1}', b"[" * 5000, b'{"by": ' * 5000, b"\xff\xfe", b"\x08\x01",
        b"\x0a\xff\xff\xff", b'{"by": 1e400}', b'{"by": "9223372036854775808"}', b"null",
    ]  # fmt: skip

    def request() -> bytes:
        path = b"/" + b"/".join(rng.choice(pieces) for _ in range(rng.randint(0, 4)))
        if rng.random() < 0.5:
            path = b"/test.http_local/counter/" + rng.choice(pieces)
        body = rng.choice(bodies)
        headers = [b"Host: x", b"Connection: close", b"Content-Length: %d" % len(body)]
        if rng.random() < 0.8:
            headers.append(b"Content-Type: " + rng.choice(content_types))
        if rng.random() < 0.3:
            headers.append(b"Idempotency-Key: " + rng.choice(pieces))
        if rng.random() < 0.1:
            headers.append(b"Content-Encoding: " + rng.choice([b"gzip", b"deflate", b"zz"]))
        method = rng.choice([b"POST", b"GET", b"PUT", b"DELETE"])
        return method + b" " + path + b" HTTP/1.1\r\n" + b"\r\n".join(headers) + b"\r\n\r\n" + body

    async def scenario() -> list[bytes]:
        async with running(http_local.app(), tmp_path / "db.sqlite") as runtime:
            assert runtime.port is not None and runtime.egress_port is not None
            ports = (runtime.port, runtime.egress_port)
            return [await raw_request(rng.choice(ports), request()) for _ in range(300)]

    statuses = set()
    for answer in asyncio.run(scenario()):
        status = int(answer.split(b" ", 2)[1])
        assert 200 <= status < 500, answer
        statuses.add(status)
    assert {200, 400, 404, 415} <= statuses  # accepted, refused and unrouted requests alike


def test_expect_100_continue_gets_the_go_ahead_before_the_body(tmp_path, http_local):
    """What curl sends with a body over 1 KiB: the server says ``100 Continue``, then the body
    comes and is queued; an Expect: it does not know is refused (417)."""

    async def scenario() -> tuple[bytes, bytes, bytes]:
        async with running(http_local.app(), tmp_path / "db.sqlite") as runtime:
            assert runtime.port is not None
            reader, writer = await asyncio.open_connection("127.0.0.1", runtime.port)
            body = b'{"by": 4}'
            writer.write(
                b"POST /test.http_local/counter/a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                + f"Content-Type: {ADD}+json\r\nContent-Length: {len(body)}\r\n".encode()
                + b"Expect: 100-continue\r\n\r\n"
            )
            try:
                async with asyncio.timeout(DEADLINE_S):
                    go_ahead = await reader.readuntil(b"\r\n\r\n")  # before any body was sent
                    writer.write(body)
                    answer = await reader.read()
            finally:
                writer.close()
            await processed(runtime, 1)
            refused = await raw_request(
                runtime.port,
                b"POST /test.http_local/counter/a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                b"Expect: a-miracle\r\nContent-Length: 0\r\n\r\n",
            )
            return go_ahead, answer, refused

    go_ahead, answer, refused = asyncio.run(scenario())
    assert go_ahead == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and b"\r\nStatus: 200\r\n" in answer
    assert refused.startswith(b"HTTP/1.1 417 ") and b"\r\nStatus: 417\r\n" in refused


def test_an_empty_expect_is_no_expectation(tmp_path, http_local):
    """As aiohttp's router had it: the request is handled as if it had no ``Expect:``."""

    async def scenario() -> bytes:
        async with running(http_local.app(), tmp_path / "db.sqlite") as runtime:
            assert runtime.port is not None
            body = b'{"by": 4}'
            answer = await raw_request(
                runtime.port,
                b"POST /test.http_local/counter/a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                + f"Content-Type: {ADD}+json\r\nContent-Length: {len(body)}\r\n".encode()
                + b"Expect: \r\n\r\n"
                + body,
            )
            await processed(runtime, 1)
            return answer

    answer = asyncio.run(scenario())
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and b"\r\nStatus: 200\r\n" in answer


def test_a_body_over_the_limit_that_came_whole_before_the_handler_ran_is_refused_413(
    tmp_path, http_local
):
    """A body all there when the handler runs is taken without a read: the 1 MiB limit holds
    all the same (a body arriving in parts is refused by aiohttp's read, above)."""

    async def scenario() -> None:
        async with running(http_local.app(), tmp_path / "db.sqlite") as runtime:
            server = ingress_server(runtime.engine, None, idle_timeout_s=DEADLINE_S)
            answers = []
            for size in (1024 * 1024, 1024 * 1024 + 1):
                payload = StreamReader(mock.Mock(), 2**16, loop=asyncio.get_running_loop())
                payload.feed_data(bytes(size))
                payload.feed_eof()
                request = make_mocked_request(
                    "POST",
                    "/test.http_local/counter/a",
                    headers={"Content-Type": "application/vnd.io.statefun.types/string"},
                    payload=payload,
                )
                answer = await server.request_handler(request)
                assert isinstance(answer, web.Response)
                answers.append((answer.status, answer.text))
            # 1 MiB is taken (then refused: zero bytes are no string), one byte more is not.
            assert answers[0][0] == 400 and "malformed body" in answers[0][1]
            assert answers[1] == (413, "Request Entity Too Large\n")

    asyncio.run(scenario())
