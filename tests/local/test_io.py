"""JSON-lines ingress files, egress files and stdout, and ``serve`` stopping on SIGTERM."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from sfidl.local import ingress
from sfidl.local.egress import FileSink, StdoutSink
from sfidl.local.engine import unpack
from sfidl.local.errors import IngressError
from sfidl.local.records import Address
from sfidl.local.store import Store, StoredEgress
from tests.local.apps import MANIFEST, Count, Increment

ROOT = Path(__file__).resolve().parents[2]


def test_json_lines_records_of_both_forms():
    by_ingress = ingress.from_json_line(
        MANIFEST, '{"ingress": "increments", "key": "k", "value": {"by": 3}}'
    )
    assert by_ingress.target == Address("demo", "counter", "k") and by_ingress.caller is None
    assert unpack(by_ingress.argument) == (
        "type.googleapis.com/sfidl.demo.Increment",
        Increment(by=3).SerializeToString(),
    )
    by_target = ingress.from_json_line(
        MANIFEST,
        '{"target": "demo/bad/x/y", "typename": "io.statefun.types/string", "value": "hi"}',
    )
    assert by_target.target == Address("demo", "bad", "x/y")
    assert unpack(by_target.argument)[0] == "io.statefun.types/string"


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("[1]", 'expected an object with "value"'),
        ("{oops", "not JSON"),
        ('{"a": ' * 100_000, "not JSON: nested too deeply"),
        (
            '{"ingress": "nope", "key": "k", "value": {}}',
            "unknown ingress 'nope' (declared: demo/increments)",
        ),
        ('{"ingress": "increments", "key": "", "value": {}}', '"key" must be a non-empty string'),
        (
            '{"ingress": "increments", "key": "k", "value": {"by": "x"}}',
            "bad value: not a valid sfidl.demo.Increment",
        ),
        (
            '{"target": "demo/counter", "typename": "t/t", "value": 1}',
            "is not of the form namespace/type/id",
        ),
        (
            '{"target": "demo/nobody/1", "typename": "t/t", "value": 1}',
            "unknown function type 'demo/nobody'",
        ),
        (
            '{"target": "demo/counter/1", "typename": "type.googleapis.com/x.Nope", "value": {}}',
            "unknown message type",
        ),
        ('{"value": 1}', 'a record needs "ingress" and "key", or "target" and "typename"'),
    ],
)
def test_bad_json_lines_are_clear_errors(line, why):
    with pytest.raises(IngressError, match=why.replace("(", r"\(").replace(")", r"\)")):
        ingress.from_json_line(MANIFEST, line)


def test_json_lines_to_a_target_are_refused_when_no_handler_takes_the_typename(http_local):
    app = http_local.app()
    add = "type.googleapis.com/test.http_local.Add"
    line = '{"target": "test.http_local/counter/a", "typename": "%s", "value": {"by": 2}}'
    taken = ingress.from_json_line(app.manifest, line % add, app.ingress_typenames)
    assert unpack(taken.argument) == (add, http_local_pb2().Add(by=2).SerializeToString())
    as_json = ingress.from_json_line(app.manifest, line % (add + "+json"), app.ingress_typenames)
    assert unpack(as_json.argument) == (add + "+json", b'{"by": 2}')
    call = "type.googleapis.com/test.http_local.CounterGetCall"
    with pytest.raises(IngressError, match="no handler of test.http_local/counter takes"):
        ingress.from_json_line(app.manifest, line % call, app.ingress_typenames)
    with pytest.raises(IngressError, match="Failed to parse by field"):
        bad = '{"target": "test.http_local/counter/a", "typename": "%s", "value": {"by": "x"}}'
        ingress.from_json_line(app.manifest, bad % (add + "+json"), app.ingress_typenames)


def http_local_pb2() -> Any:
    import http_local_pb2 as pb

    return pb


def test_an_ingress_file_resumes_at_its_offset_and_stops_at_a_bad_line(tmp_path):
    path = tmp_path / "in.jsonl"
    good = '{"ingress": "increments", "key": "k", "value": {"by": 1}}\n'
    path.write_text(good * 3 + "\n" + "not json\n" + good + '{"ingress": "incre')
    store = Store(tmp_path / "db.sqlite")
    offsets = []

    def enqueue(messages, source, offset):
        store.enqueue(messages, source, offset)
        offsets.append(offset)

    with pytest.raises(IngressError, match=r"in.jsonl:5: not JSON"):
        asyncio.run(ingress.follow_file(path, MANIFEST, enqueue, 0, follow=False))
    assert store.counts().queued == 3
    assert store.offset(str(path.resolve())) == len(good) * 3 + 1
    # Fixed, read again from the stored offset: only the rest, and not the unfinished last line.
    path.write_text(good * 3 + "\n" + good + good + '{"ingress": "incre')
    asyncio.run(
        ingress.follow_file(
            path, MANIFEST, enqueue, store.offset(str(path.resolve())), follow=False
        )
    )
    assert store.counts().queued == 5
    assert store.offset(str(path.resolve())) == len(good) * 5 + 1
    store.close()


def row(seq: int, total: int, topic: str = "counts") -> StoredEgress:
    return StoredEgress(
        seq, "demo/counts", topic, "k", Count(id="k", total=total).SerializeToString()
    )


def test_egress_files_cut_a_torn_line_and_write_only_what_they_miss(tmp_path):
    sink = FileSink(tmp_path / "out", MANIFEST)
    sink.catch_up(Store(":memory:"))
    sink.write([row(1, 1), row(2, 2, topic="other/topic")])
    counts = tmp_path / "out" / "counts.jsonl"
    with counts.open("a") as f:
        f.write('{"seq": 3, "egr')  # killed while writing

    class Rows(Store):
        def egress_after(self, seq: int) -> list[StoredEgress]:
            return [
                r
                for r in [row(1, 1), row(2, 2, topic="other/topic"), row(3, 3), row(4, 4)]
                if r.seq > seq
            ]

    resumed = FileSink(tmp_path / "out", MANIFEST)
    resumed.catch_up(Rows(":memory:"))
    lines = [json.loads(line) for line in counts.read_text().splitlines()]
    assert lines == [
        {
            "seq": s,
            "egress": "demo/counts",
            "topic": "counts",
            "key": "k",
            "value": {"id": "k", "total": str(s)},
        }
        for s in (1, 3, 4)
    ]
    assert len((tmp_path / "out" / "other_topic.jsonl").read_text().splitlines()) == 1


def test_stdout_sink_prints_decoded_json_lines():
    out = io.StringIO()
    StdoutSink(MANIFEST, out).write([row(7, 2)])
    assert json.loads(out.getvalue()) == {
        "seq": 7,
        "egress": "demo/counts",
        "topic": "counts",
        "key": "k",
        "value": {"id": "k", "total": "2"},
    }


def test_run_stops_cleanly_on_sigterm_and_logs_its_status(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"ingress": "increments", "key": "k", "value": {"by": 1}}\n')
    script = (
        "import sys; from pathlib import Path; from sfidl.local.run import RunOptions, run; from tests.local.apps import demo_app;"
        f"run(demo_app(), RunOptions(db=Path({str(tmp_path / 'db.sqlite')!r}), port=0, egress_port=0, ingress_files=(Path({str(path)!r}),),"
        " status_interval_s=0.05))"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stderr is not None
    first = process.stdout.readline()  # the egress record on stdout: the message went through
    assert json.loads(first)["value"] == {"id": "k", "total": "1"}
    log = []
    for line in process.stderr:
        log.append(line)
        if "processed 2 messages; 0 queued, 0 delayed" in line:
            break
    os.kill(process.pid, signal.SIGTERM)
    _, stderr = process.communicate(timeout=10)
    log.append(stderr)
    assert process.returncode == 0, "".join(log)
    text = "".join(log)
    assert (
        "listening on http://127.0.0.1:" in text
        and "stopping" in text
        and "stopped: processed 2 messages" in text
    )


class CountingPath(type(Path())):
    """A path that counts how often it was asked whether it exists: once per poll."""

    polls = 0

    def exists(self, *args, **kwargs):
        CountingPath.polls += 1
        return super().exists(*args, **kwargs)


def test_following_an_unchanged_file_writes_nothing(tmp_path):
    path = CountingPath(tmp_path / "in.jsonl")
    CountingPath.polls = 0
    line = {"target": "demo/counter/a", "typename": "type.googleapis.com/sfidl.demo.Increment"}
    path.write_text(json.dumps({**line, "value": {"by": 1}}) + "\n")
    commits: list[tuple[int, int]] = []

    def enqueue(messages, source, offset):
        commits.append((len(messages), offset))

    async def follow_a_while():
        task = asyncio.create_task(
            ingress.follow_file(path, MANIFEST, enqueue, 0, follow=True, poll_s=0.001)
        )
        deadline = time.monotonic() + 30
        while CountingPath.polls < 30:  # dozens of polls of an unchanged file
            assert time.monotonic() < deadline, f"only {CountingPath.polls} polls in 30 s"
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(follow_a_while())
    assert commits == [(1, path.stat().st_size)]
