"""Beyond the playground image's one-record egress read: several records a read (``?max=N``)
and waiting for a record (``?wait=S``). Every wait has a deadline."""

from __future__ import annotations

import asyncio
import base64
import json
import sqlite3

import aiohttp

from sfidl.local.run import LocalRuntime
from tests.local.test_server import ADD, eventually, payload, processed, running, urls

DEADLINE_S = 5.0


async def post_adds(
    http: aiohttp.ClientSession, ingress_url: str, adds: list[tuple[int, bool]]
) -> None:
    for by, audit in adds:
        body = json.dumps({"by": by, "audit": audit}).encode()
        async with http.post(
            f"{ingress_url}/test.http_local/counter/a",
            data=body,
            headers={"Content-Type": ADD + "+json"},
        ) as r:
            assert r.status == 200, await r.text()


def test_max_pops_several_records_as_json_lines_oldest_first(tmp_path, http_local):
    import http_local_pb2 as pb

    async def scenario() -> None:
        async with (
            running(http_local.app(), tmp_path / "db.sqlite") as runtime,
            aiohttp.ClientSession() as http,
        ):
            ingress_url, egress_url = urls(runtime)
            # Totals 1, 3, 6, 10: the first and the third also to the audit egress (same topic).
            await post_adds(http, ingress_url, [(1, True), (2, False), (3, True), (4, False)])
            await processed(runtime, 4)
            # Each line is what the one-record read answers; a shared topic reads both egresses.
            async with http.get(f"{egress_url}/counts?max=3") as r:
                assert (r.status, r.headers["Status"]) == (200, "200")
                assert r.content_type == "application/x-ndjson"
                assert r.headers["Sfidl-Shared-By"] == (
                    "test.http_local/counts, test.http_local/audit"
                )
                assert await r.read() == b"".join(
                    payload(pb, "a", total) + b"\n" for total in (1, 1, 3)
                )
            # An egress's name reads only its records; envelopes, one a line.
            async with http.get(f"{egress_url}/audit?max=10&envelope=1") as r:
                lines = (await r.text()).splitlines()
                assert [json.loads(line) for line in lines] == [
                    {
                        "seq": 5,
                        "egress": "test.http_local/audit",
                        "topic": "counts",
                        "key": "a",
                        "value": {"id": "a", "total": "6"},
                    }
                ]
            async with http.get(f"{egress_url}/counts?max=1000") as r:
                assert await r.read() == payload(pb, "a", 6) + b"\n" + payload(pb, "a", 10) + b"\n"
            # None left: as the one-record read (status line 200, 404 in Status:, empty body).
            async with http.get(f"{egress_url}/counts?max=5") as r:
                assert (r.status, r.headers["Status"], await r.read()) == (200, "404", b"")
            async with http.get(f"{egress_url}/counts?max=5&envelope=1") as r:
                assert (r.status, await r.text()) == (404, "no record in 'counts'\n")
            # Every record was popped once: the listing marks none as left.
            async with http.get(f"{egress_url}/counts?all=1") as r:
                assert [e["seq"] for e in await r.json()] == [1, 2, 3, 4, 5, 6]
            assert not runtime.engine.store.has_egress("counts")

    asyncio.run(scenario())


BAD_QUERIES = [
    ("max=0", "max is a whole number of records from 1 to 1000, not '0'"),
    ("max=1001", "max is a whole number of records from 1 to 1000, not '1001'"),
    ("max=" + "9" * 5000, "max is a whole number of records from 1 to 1000, not '" + "9" * 39),
    ("max=two", "max is a whole number of records from 1 to 1000, not 'two'"),
    ("max=%C2%B2", "max is a whole number of records from 1 to 1000, not '²'"),
    ("wait=-1", "wait is seconds from 0 to 30, not '-1'"),
    ("wait=31", "wait is seconds from 0 to 30, not '31'"),
    ("wait=nan", "wait is seconds from 0 to 30, not 'nan'"),
    ("wait=soon", "wait is seconds from 0 to 30, not 'soon'"),
]


def test_a_bad_max_or_wait_is_refused_with_the_reason(tmp_path, http_local):
    async def scenario() -> None:
        async with (
            running(http_local.app(), tmp_path / "db.sqlite") as runtime,
            aiohttp.ClientSession() as http,
        ):
            _, egress_url = urls(runtime)
            for query, why in BAD_QUERIES:
                async with http.get(f"{egress_url}/counts?{query}") as r:
                    assert (r.status, r.headers["Status"], await r.text()) == (
                        400,
                        "400",
                        why + "\n",
                    ), query

    asyncio.run(scenario())


async def waiting(runtime: LocalRuntime, count: int) -> None:
    """Until ``count`` egress reads wait for a record in the server (with a deadline)."""
    server = runtime.egress_server
    assert server is not None

    async def reached() -> bool:
        return server.waiting == count

    await eventually(reached)


def test_a_batch_read_writes_a_record_that_does_not_decode_as_its_envelope_on_one_line(
    tmp_path, http_local
):
    """Its payload would be the stored bytes as they are (here with a newline, not JSON):
    a record of an egress an earlier version of the application had, say."""
    import http_local_pb2 as pb

    db = tmp_path / "db.sqlite"

    async def scenario() -> bytes:
        async with running(http_local.app(), db):
            pass  # the database, with its tables
        with sqlite3.connect(db) as sql:
            sql.execute(
                "INSERT INTO egress (egress, topic, key, value) VALUES (?, ?, ?, ?)",
                ("test.http_local/gone", "counts", "a", b"line one\nline two"),
            )
        sql.close()
        async with (
            running(http_local.app(), db) as runtime,
            aiohttp.ClientSession() as http,
        ):
            ingress_url, egress_url = urls(runtime)
            await post_adds(http, ingress_url, [(2, False)])
            await processed(runtime, 1)
            async with http.get(f"{egress_url}/counts?max=10") as r:
                assert (r.status, r.headers["Status"]) == (200, "200")
                return await r.read()

    body = asyncio.run(scenario())
    lines = body.split(b"\n")
    assert lines[-1] == b"" and len(lines) == 3, body
    assert json.loads(lines[0]) == {
        "seq": 1,
        "egress": "test.http_local/gone",
        "topic": "counts",
        "key": "a",
        "value": {"base64": base64.b64encode(b"line one\nline two").decode()},
        "error": "cannot decode the value: egress 'test.http_local/gone' is not in the"
        " application's manifest",
    }
    assert lines[1] == payload(pb, "a", 2)


def test_head_and_options_with_max_or_wait_are_refused_and_pop_nothing(tmp_path, http_local):
    """Their answers carry no records (HEAD's has no body): what they popped would be lost.
    Without max or wait they pop one record, as the image does on any method."""
    import http_local_pb2 as pb

    async def scenario() -> None:
        async with (
            running(http_local.app(), tmp_path / "db.sqlite") as runtime,
            aiohttp.ClientSession() as http,
        ):
            ingress_url, egress_url = urls(runtime)
            await post_adds(http, ingress_url, [(1, False), (2, False), (3, False)])
            await processed(runtime, 3)
            for method, query in (("HEAD", "max=1000"), ("OPTIONS", "wait=1"), ("HEAD", "wait=0")):
                async with http.request(method, f"{egress_url}/counts?{query}") as r:
                    why = (
                        f"{method} with max or wait would pop records nobody receives:"
                        " read them with GET or POST"
                    )
                    assert (r.status, r.headers["Status"], r.headers["Sfidl-Reason"]) == (
                        405,
                        "405",
                        why,
                    )
                    assert await r.text() == ("" if method == "HEAD" else why + "\n")
            async with http.head(f"{egress_url}/counts") as r:  # the image's read: pops one
                assert (r.status, r.headers["Status"]) == (200, "200")
            async with http.get(f"{egress_url}/counts?max=1000") as r:
                assert await r.read() == payload(pb, "a", 3) + b"\n" + payload(pb, "a", 6) + b"\n"

    asyncio.run(scenario())


def test_all_with_max_or_wait_is_refused_with_the_reason(tmp_path, http_local):
    async def scenario() -> None:
        async with (
            running(http_local.app(), tmp_path / "db.sqlite") as runtime,
            aiohttp.ClientSession() as http,
        ):
            _, egress_url = urls(runtime)
            for query in ("all=1&max=5", "all=1&wait=1", "all=1&max=5&wait=1&envelope=1"):
                async with http.get(f"{egress_url}/counts?{query}") as r:
                    assert (r.status, r.headers["Status"], await r.text()) == (
                        400,
                        "400",
                        "all=1 lists the records without popping: it takes no max or wait\n",
                    ), query

    asyncio.run(scenario())


def test_a_read_that_loses_every_pop_to_other_readers_stops_at_its_deadline(tmp_path, http_local):
    """Records keep being there, yet each pop comes back empty (another read won it): the
    read answers "none" once its wait is over instead of popping again and again."""

    async def scenario() -> None:
        async with (
            running(http_local.app(), tmp_path / "db.sqlite") as runtime,
            aiohttp.ClientSession() as http,
        ):
            ingress_url, egress_url = urls(runtime)
            await post_adds(http, ingress_url, [(1, False)])
            await processed(runtime, 1)
            pops = 0

            async def lost(topic: str, egress: str | None = None, limit: int = 1) -> list[object]:
                nonlocal pops
                pops += 1
                await asyncio.sleep(0.01)  # a commit's time: another read popped meanwhile
                return []

            runtime.engine.pop_egress = lost  # type: ignore[method-assign]
            async with asyncio.timeout(DEADLINE_S):
                async with http.get(f"{egress_url}/counts?wait=0.2") as r:
                    assert (r.status, r.headers["Status"], await r.read()) == (200, "404", b"")
            assert pops > 1  # it did pop again while its wait lasted
            assert runtime.engine.store.has_egress("counts")

    asyncio.run(scenario())


def test_wait_answers_a_record_written_while_the_read_waits(tmp_path, http_local):
    import http_local_pb2 as pb

    async def scenario() -> None:
        async with (
            running(http_local.app(), tmp_path / "db.sqlite") as runtime,
            aiohttp.ClientSession() as http,
        ):
            ingress_url, egress_url = urls(runtime)

            async def read(query: str) -> tuple[str, bytes]:
                async with http.get(f"{egress_url}/counts?{query}") as r:
                    return r.headers["Status"], await r.read()

            # Nothing comes: after the wait, the empty answer.
            assert await asyncio.wait_for(read("wait=0.1"), DEADLINE_S) == ("404", b"")
            # A record written while two reads wait goes to one of them; the other goes on
            # waiting and gets the next.
            first = asyncio.create_task(read("wait=30"))
            second = asyncio.create_task(read("wait=30&max=10"))
            await waiting(runtime, 2)  # both wait in the server, for a record not written yet
            assert not first.done() and not second.done()
            await post_adds(http, ingress_url, [(2, False)])
            done, _ = await asyncio.wait(
                {first, second}, timeout=DEADLINE_S, return_when="FIRST_COMPLETED"
            )
            assert len(done) == 1
            await waiting(runtime, 1)  # the other waits again
            await post_adds(http, ingress_url, [(3, False)])
            answers = await asyncio.wait_for(asyncio.gather(first, second), DEADLINE_S)
            assert sorted(body.rstrip(b"\n") for _, body in answers) == sorted(
                [payload(pb, "a", 2), payload(pb, "a", 5)]
            )
            assert [status for status, _ in answers] == ["200", "200"]

    asyncio.run(scenario())


def test_a_waiting_read_is_answered_when_the_runtime_stops(tmp_path, http_local):
    async def scenario() -> None:
        async with aiohttp.ClientSession() as http:
            async with running(http_local.app(), tmp_path / "db.sqlite") as runtime:
                _, egress_url = urls(runtime)
                read = asyncio.create_task(http.get(f"{egress_url}/counts?wait=30"))
                await waiting(runtime, 1)
                assert not read.done()
            # The runtime stopped (within the deadline, not after the 30 s wait): the read
            # got the empty answer.
            answer = await asyncio.wait_for(read, DEADLINE_S)
            assert (answer.status, answer.headers["Status"]) == (200, "404")
            answer.release()

    asyncio.run(asyncio.wait_for(scenario(), DEADLINE_S * 2))
