"""The store's tables: a database of the previous layout (rowid tables numbered by
AUTOINCREMENT, a separate index of the queues) is rewritten in place when opened, in one
transaction, with everything in it; and the queue's numbers, which the store now gives out
itself, keep every queue in order through rolled-back batches."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from statefun.types_pb2 import LongWrapper

from sfidl.local import codec
from sfidl.local.effects import Effects, EgressOut, Outgoing, StateWrite
from sfidl.local.errors import StoreError
from sfidl.local.ingress import message_value
from sfidl.local.records import Address
from sfidl.local.store import (
    APPLICATION_ID,
    LAYOUT,
    Counts,
    Incoming,
    IngressKey,
    Queued,
    Store,
    StoredEgress,
)
from tests.local.apps import AUDIT, COUNTER, RELAY, Increment, demo_app, run_on

# The schema as sfidl made it before the layout had a number (PRAGMA user_version 0).
LAYOUT_0 = """
CREATE TABLE IF NOT EXISTS inbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    fn TEXT NOT NULL, id TEXT NOT NULL,
    caller_fn TEXT, caller_id TEXT,
    argument BLOB NOT NULL,
    due_at INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS inbox_by_due ON inbox (fn, id, due_at, seq);
CREATE TABLE IF NOT EXISTS state (
    fn TEXT NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL,
    typename TEXT NOT NULL, value BLOB NOT NULL, expires_at INTEGER,
    PRIMARY KEY (fn, id, name));
CREATE TABLE IF NOT EXISTS state_types (
    fn TEXT NOT NULL, name TEXT NOT NULL, typename TEXT NOT NULL,
    PRIMARY KEY (fn, name));
CREATE TABLE IF NOT EXISTS delayed (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    fire_at INTEGER NOT NULL,
    sender_fn TEXT NOT NULL, sender_id TEXT NOT NULL, token TEXT NOT NULL,
    fn TEXT NOT NULL, id TEXT NOT NULL,
    argument BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS delayed_by_time ON delayed (fire_at, seq);
CREATE INDEX IF NOT EXISTS delayed_by_token ON delayed (sender_fn, sender_id, token);
CREATE TABLE IF NOT EXISTS egress (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    egress TEXT NOT NULL, topic TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,
    popped INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS egress_by_topic ON egress (topic, popped, seq);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS ingress_keys (
    key TEXT PRIMARY KEY, fingerprint BLOB NOT NULL, at_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS ingress_keys_by_time ON ingress_keys (at_ms);
"""

A, B = Address("demo", "f", "a"), Address("demo", "f", "b")
G = Address("demo", "g", "x")
NOW = 5_000

# seq, fn, id, caller_fn, caller_id, argument, due_at: from ingresses and from functions,
# with gaps where messages were consumed, and orders by seq and by due time that differ.
INBOX = [
    (1, "demo/f", "a", None, None, b"a1", 100),
    (2, "demo/f", "a", "demo/g", "x", b"a2", 50),
    (4, "demo/f", "b", "demo/g", "y", b"b1", 100),
    (6, "demo/f", "a", None, None, b"a3", 50),
]
STATE = [
    ("demo/f", "a", "n", "t/n", b"1", None),
    ("demo/f", "a", "e", "t/e", b"2", NOW - 1),  # expired
    ("demo/f", "a", "l", "t/l", b"3", NOW + 1),
]
DELAYED = [
    (1, 3_000, "demo/f", "a", "tok", "demo/f", "b", b"d1"),
    (2, 2_000, "demo/f", "a", "", "demo/f", "a", b"d2"),
    (5, 9_000, "demo/f", "b", "late", "demo/f", "a", b"d3"),
]
EGRESS = [
    (1, "demo/counts", "counts", "k1", b"v1", 1),  # popped
    (2, "demo/counts", "counts", "k2", b"v2", 0),
    (3, "demo/other", "other", "k3", b"v3", 0),
]


def layout_0(path: Path, schema: str = LAYOUT_0) -> None:
    """A database of layout 0 at ``path``, holding every kind of row."""
    with sqlite3.connect(path) as db:
        db.executescript(schema)
        db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        db.executemany("INSERT INTO inbox VALUES (?, ?, ?, ?, ?, ?, ?)", INBOX)
        db.executemany("INSERT INTO state VALUES (?, ?, ?, ?, ?, ?)", STATE)
        db.execute("INSERT INTO state_types VALUES ('demo/f', 'n', 't/n')")
        db.executemany("INSERT INTO delayed VALUES (?, ?, ?, ?, ?, ?, ?, ?)", DELAYED)
        db.executemany("INSERT INTO egress VALUES (?, ?, ?, ?, ?, ?)", EGRESS)
        db.execute("INSERT INTO counters VALUES ('processed', 42), ('offset:/in.jsonl', 17)")
        db.execute(
            "INSERT INTO ingress_keys (key, fingerprint, at_ms) VALUES ('key1', x'0102', 1234)"
        )
        # Messages 7 to 9 were queued and consumed since.
        db.execute("UPDATE sqlite_sequence SET seq = 9 WHERE name = 'inbox'")
    db.close()


def contents(path: Path) -> tuple[object, ...]:
    """Everything in the file: its schema and every table's rows."""
    db = sqlite3.connect(path)
    try:
        schema = db.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
        tables = [name for kind, name, _ in schema if kind == "table"]
        rows = [sorted(db.execute(f"SELECT * FROM {t}"), key=repr) for t in tables]
        return schema, rows, db.execute("PRAGMA user_version").fetchone()
    finally:
        db.close()


def test_a_layout_0_database_is_upgraded_in_place_with_everything_in_it(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    layout_0(path)
    store = Store(path)
    try:
        # The queues, in the order they are delivered: by due time, then by seq.
        assert list(store.backlog().items()) == [(A, 3), (B, 1)]
        assert store.batch(A, 10) == [
            Queued(2, A, G, b"a2", 50),
            Queued(6, A, None, b"a3", 50),
            Queued(1, A, None, b"a1", 100),
        ]
        assert store.batch(B, 10) == [Queued(4, B, Address("demo", "g", "y"), b"b1", 100)]
        assert store.live_state(A, NOW) == ({"n": ("t/n", b"1"), "l": ("t/l", b"3")}, True)
        assert store.state_type("demo/f", "n") == "t/n"
        assert store.token_pending(A, "tok") and store.token_pending(B, "late")
        assert store.next_fire_at() == 2_000
        assert store.offset("/in.jsonl") == 17
        assert store.ingress_key("key1") == IngressKey("key1", b"\x01\x02", 1234)
        assert store.counts() == Counts(processed=42, queued=4, delayed=3, egress=3)
        assert store.egress_after(0) == [StoredEgress(*row[:5]) for row in EGRESS]
        assert store.pop_egress("counts", limit=5) == [StoredEgress(*EGRESS[1][:5])]
        assert not store.has_egress("counts") and store.has_egress("other")

        # Delayed messages become due in time order, each at its fire time, after what
        # was queued before for the same due time.
        assert store.fire_due(NOW) == [A, B]
        [fired_a] = store.batch(A, 10)[3:]
        [fired_b] = store.batch(B, 10)[1:]
        assert fired_a[1:] == (A, A, b"d2", 2_000) and fired_b[1:] == (B, A, b"d1", 3_000)
        assert 6 < fired_a.seq < fired_b.seq
        # New messages and egress records are numbered after the old ones.
        store.enqueue([Incoming(B, None, b"b2")], due_at=100)
        sent = Effects(
            (Outgoing(B, b"b3"),),
            (),
            (EgressOut("demo/counts", "counts", "k4", b"v4"),),
            (StateWrite("n", "t/n", b"4", None),),
        )
        batch = store.batch(A, 2)
        written = store.commit_batch(A, batch, sent, [], NOW)
        assert written == [StoredEgress(4, "demo/counts", "counts", "k4", b"v4")]
        assert [q.argument for q in store.batch(A, 10)] == [b"a1", b"d2"]
        queue_b = store.batch(B, 10)
        assert [(q.due_at, q.argument) for q in queue_b] == [
            (100, b"b1"),
            (100, b"b2"),
            (3_000, b"d1"),
            (NOW, b"b3"),
        ]
        assert queue_b[0].seq < fired_b.seq < queue_b[1].seq < queue_b[3].seq
        assert store.live_state(A, NOW) == ({"n": ("t/n", b"4"), "l": ("t/l", b"3")}, False)
        assert store.counts() == Counts(processed=44, queued=6, delayed=1, egress=4)
    finally:
        store.close()

    # The file is now as a new database begins, with nothing left of the old layout.
    fresh = tmp_path / "fresh.sqlite"
    Store(fresh).close()
    upgraded_schema, _, version = contents(path)
    fresh_schema, _, _ = contents(fresh)
    assert version == (LAYOUT,)
    assert [row for row in upgraded_schema if row[1] != "sqlite_sequence"] == fresh_schema
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT * FROM sqlite_sequence").fetchall() == []
    db.close()


def test_the_queues_of_a_layout_0_database_are_delivered_first_and_in_order(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(LAYOUT_0)
        rows = [  # seq, caller, due_at, increment: the later seq is due first
            (3, RELAY, "r", 2_000, Increment(by=2, note="second")),
            (7, None, None, 1_000, Increment(by=3, note="first")),
        ]
        for seq, caller_fn, caller_id, due_at, increment in rows:
            db.execute(
                "INSERT INTO inbox (seq, fn, id, caller_fn, caller_id, argument, due_at)"
                " VALUES (?, ?, 'k', ?, ?, ?, ?)",
                (seq, COUNTER, caller_fn, caller_id, message_value(increment), due_at),
            )
        total = LongWrapper(value=10).SerializeToString()
        db.execute(
            "INSERT INTO state VALUES (?, 'k', 'total', 'io.statefun.types/long', ?, NULL)",
            (COUNTER, total),
        )
        db.execute("INSERT INTO egress VALUES (5, 'demo/counts', 'counts', 'old', x'00', 1)")
    db.close()
    state = run_on(path, demo_app(), Address.of(COUNTER, "k"))
    assert (state["total"], state["note"]) == (15, "second")
    store = Store(path)
    try:
        assert [(r.seq, r.key) for r in store.egress_after(0)] == [(5, "old"), (6, "k"), (7, "k")]
        callers = store.state(Address.of(AUDIT, "all"), 0)["callers"]
        assert codec.decode(*callers) == f"{COUNTER}/k;{COUNTER}/k;"
    finally:
        store.close()


def test_a_failed_upgrade_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    # A table the upgrade keeps as it is, found wrong once the others were copied.
    layout_0(path, LAYOUT_0.replace("at_ms INTEGER NOT NULL)", "at_ms INTEGER NOT NULL, x)"))
    before = contents(path)
    with pytest.raises(StoreError, match=r"its table ingress_keys has other columns \(.*, x\)"):
        Store(path)
    assert contents(path) == before


def test_a_layout_0_table_of_other_columns_is_refused_before_anything_is_copied(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.sqlite"
    other = LAYOUT_0.replace("popped INTEGER NOT NULL DEFAULT 0", "read INTEGER")
    layout_0(path, other.replace("(topic, popped, seq)", "(topic, read, seq)"))
    before = contents(path)
    with pytest.raises(StoreError, match=r"its table egress has other columns \(seq, .*, read\)"):
        Store(path)
    assert contents(path) == before


def test_a_layout_this_sfidl_does_not_know_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "later.sqlite"
    Store(path).close()
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {LAYOUT + 1}")
    db.close()
    before = contents(path)
    with pytest.raises(StoreError, match=f"user_version {LAYOUT + 1}; it knows 0 to {LAYOUT}"):
        Store(path)
    assert contents(path) == before


def test_a_rolled_back_batch_leaves_its_queues_in_order_and_consumed_exactly(
    tmp_path: Path,
) -> None:
    db = tmp_path / "db.sqlite"
    Store(db).close()
    with sqlite3.connect(db) as raw:  # a real failure of SQLite's, after the batch's sends
        raw.execute(
            "CREATE TRIGGER b_fails BEFORE INSERT ON state WHEN NEW.id = 'b'"
            " BEGIN SELECT RAISE(ABORT, 'b cannot be written'); END"
        )
    raw.close()
    target = Address("demo", "t", "1")

    def sends(note: bytes) -> Effects:
        return Effects((Outgoing(target, note),), (), (), (StateWrite("n", "t/n", note, None),))

    store = Store(db)
    try:
        with store.group():
            store.commit_batch(Address("demo", "f", "a"), [], sends(b"1"), [], 10)
            with pytest.raises(StoreError, match="b cannot be written"):
                store.commit_batch(Address("demo", "f", "b"), [], sends(b"lost"), [], 10)
            store.commit_batch(Address("demo", "f", "c"), [], sends(b"2"), [], 10)
        store.enqueue([Incoming(target, None, b"3")], due_at=10)
        first = store.batch(target, 2)
        assert [q.argument for q in first] == [b"1", b"2"]
        # Queued while the batch is out, due before it: not consumed with it.
        store.enqueue([Incoming(target, None, b"0")], due_at=0)
        store.commit_batch(target, first, Effects((), (), (), ()), [], 20)
        assert [q.argument for q in store.batch(target, 10)] == [b"0", b"3"]
    finally:
        store.close()


def test_after_a_restart_and_a_rolled_back_group_new_messages_are_numbered_after_the_queued(
    tmp_path: Path,
) -> None:
    db = tmp_path / "db.sqlite"
    target = Address("demo", "t", "1")
    store = Store(db)
    store.enqueue([Incoming(target, None, b"1"), Incoming(target, None, b"2")], due_at=5)
    store.close()
    store = Store(db)
    try:
        queued = store.batch(target, 2)
        with pytest.raises(RuntimeError, match="the group fails"):
            with store.group():
                store.commit_batch(target, queued, Effects((), (), (), ()), [], 5)
                # The queue is empty inside the group: this message gets a number of those
                # rolled back with it.
                send = Effects((Outgoing(target, b"3"),), (), (), ())
                store.commit_batch(Address("demo", "f", "a"), [], send, [], 5)
                raise RuntimeError("the group fails")
        store.enqueue([Incoming(target, None, b"4")], due_at=5)
        queue = store.batch(target, 10)
        assert [q.argument for q in queue] == [b"1", b"2", b"4"]
        assert [q.seq for q in queue] == sorted({q.seq for q in queue})
    finally:
        store.close()
