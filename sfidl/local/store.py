"""Durable state of the local runtime in SQLite: queues, state, delayed messages, egress, offsets.

Every method that changes data runs one transaction, so a process killed at any moment
leaves either all of an operation's writes or none of them.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sfidl.local.effects import DelayedCancel, DelayedSend, Effects, StateSpec
from sfidl.local.errors import LocalRuntimeError
from sfidl.local.records import Address

SCHEMA = """
CREATE TABLE IF NOT EXISTS inbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    fn TEXT NOT NULL, id TEXT NOT NULL,
    caller_fn TEXT, caller_id TEXT,
    argument BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS inbox_by_address ON inbox (fn, id, seq);
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


@dataclass(frozen=True)
class Queued:
    """A message waiting in an address's queue."""

    seq: int
    target: Address
    caller: Address | None
    argument: bytes  # a serialized TypedValue


@dataclass(frozen=True)
class Incoming:
    """A message to enqueue."""

    target: Address
    caller: Address | None
    argument: bytes


@dataclass(frozen=True)
class IngressKey:
    """An idempotency key sent with an ingress request: what it queued, and when."""

    key: str
    fingerprint: bytes  # of the request, to tell a re-send from another request reusing the key
    at_ms: int


@dataclass(frozen=True)
class StoredEgress:
    seq: int
    egress: str
    topic: str
    key: str
    value: bytes


@dataclass(frozen=True)
class Counts:
    processed: int
    queued: int
    delayed: int
    egress: int


def _split(fn: str) -> tuple[str, str]:
    namespace, _, type_ = fn.rpartition("/")
    return namespace, type_


def _address(fn: str | None, id: str | None) -> Address | None:
    if fn is None or id is None:
        return None
    return Address(*_split(fn), id)


def _lock(path: Path) -> int:
    """An exclusive lock on ``<path>.lock`` for this process's life (the kernel drops it when we die)."""
    lock = path.with_name(path.name + ".lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
        os.close(fd)
        raise LocalRuntimeError(
            f"the database {path} is in use by another sfidl run (pid {holder});"
            " stop that one or give another --db"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode("ascii"))
    return fd


class Store:
    """The local runtime's SQLite database (a file, or ``":memory:"`` for the test harness).

    A file is used by one store at a time: a second one, in this process or another, is
    refused with a :class:`LocalRuntimeError`, since two engines would deliver the same
    queued messages twice.
    """

    def __init__(self, path: Path | str) -> None:
        self._lock: int | None = None
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._lock = _lock(Path(path))
        try:
            self._db = sqlite3.connect(str(path), isolation_level=None)
            if str(path) != ":memory:":
                # WAL with synchronous=NORMAL survives a killed process (not a power cut).
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
            with self._transaction():
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
        except BaseException:
            if self._lock is not None:  # not a database after all: let another run have it
                os.close(self._lock)
                self._lock = None
            raise

    def close(self) -> None:
        self._db.close()
        if self._lock is not None:
            os.close(self._lock)  # releases the lock
            self._lock = None

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- ingress ---------------------------------------------------------------------------

    def enqueue(
        self,
        messages: Sequence[Incoming],
        source: str | None = None,
        offset: int = 0,
        key: IngressKey | None = None,
    ) -> bool:
        """Queue ``messages``; with ``source``, record ``offset`` as read in the same transaction.

        With ``key``, only if no request was queued under ``key.key`` yet (the key is recorded
        in the same transaction); returns whether the messages were queued.
        """
        with self._transaction() as db:
            if key is not None:
                cursor = db.execute(
                    "INSERT OR IGNORE INTO ingress_keys (key, fingerprint, at_ms) VALUES (?, ?, ?)",
                    (key.key, key.fingerprint, key.at_ms),
                )
                if cursor.rowcount == 0:
                    return False
            _insert_messages(db, messages)
            if source is not None:
                db.execute(
                    "INSERT INTO counters (name, value) VALUES (?, ?)"
                    " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                    ("offset:" + source, offset),
                )
        return True

    def ingress_key(self, key: str) -> IngressKey | None:
        """What was queued under the idempotency key ``key`` (until forgotten)."""
        row = self._db.execute(
            "SELECT fingerprint, at_ms FROM ingress_keys WHERE key = ?", (key,)
        ).fetchone()
        return None if row is None else IngressKey(key, bytes(row[0]), int(row[1]))

    def forget_ingress_keys(self, before_ms: int) -> None:
        """Forget the idempotency keys recorded before ``before_ms`` (their retention is over)."""
        with self._transaction() as db:
            db.execute("DELETE FROM ingress_keys WHERE at_ms < ?", (before_ms,))

    def offset(self, source: str) -> int:
        row = self._db.execute(
            "SELECT value FROM counters WHERE name = ?", ("offset:" + source,)
        ).fetchone()
        return int(row[0]) if row else 0

    # -- the engine ------------------------------------------------------------------------

    def backlog(self) -> dict[Address, int]:
        """How many messages each address has queued, the address with the oldest first."""
        rows = self._db.execute(
            "SELECT fn, id, COUNT(*), MIN(seq) AS first FROM inbox GROUP BY fn, id ORDER BY first"
        )
        return {Address(*_split(fn), id): count for fn, id, count, _ in rows}

    def batch(self, address: Address, limit: int) -> list[Queued]:
        rows = self._db.execute(
            "SELECT seq, caller_fn, caller_id, argument FROM inbox WHERE fn = ? AND id = ? ORDER BY seq LIMIT ?",
            (address.typename, address.id, limit),
        )
        return [Queued(seq, address, _address(cfn, cid), bytes(arg)) for seq, cfn, cid, arg in rows]

    def state(self, address: Address, now_ms: int) -> dict[str, tuple[str, bytes]]:
        """The live (unexpired) state values of ``address``: name -> (typename, value)."""
        rows = self._db.execute(
            "SELECT name, typename, value FROM state WHERE fn = ? AND id = ?"
            " AND (expires_at IS NULL OR expires_at > ?)",
            (address.typename, address.id, now_ms),
        )
        return {name: (typename, bytes(value)) for name, typename, value in rows}

    def state_type(self, fn: str, name: str) -> str | None:
        row = self._db.execute(
            "SELECT typename FROM state_types WHERE fn = ? AND name = ?", (fn, name)
        ).fetchone()
        return str(row[0]) if row else None

    def register(self, fn: str, specs: Iterable[StateSpec]) -> None:
        with self._transaction() as db:
            db.executemany(
                "INSERT OR IGNORE INTO state_types (fn, name, typename) VALUES (?, ?, ?)",
                [(fn, spec.name, spec.typename) for spec in specs],
            )

    def token_pending(self, sender: Address, token: str) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM delayed WHERE sender_fn = ? AND sender_id = ? AND token = ? LIMIT 1",
            (sender.typename, sender.id, token),
        ).fetchone()
        return row is not None

    def commit_batch(
        self,
        address: Address,
        consumed: Sequence[Queued],
        effects: Effects,
        touched: Sequence[tuple[str, int]],
        now_ms: int,
    ) -> list[StoredEgress]:
        """Apply one batch's effects and consume its input, in one transaction.

        ``touched`` lists the states whose expiry an invocation renews (after-invoke TTL).
        Returns the egress records written.
        """
        fn, id = address.typename, address.id
        with self._transaction() as db:
            _insert_messages(
                db, [(Incoming(m.target, address, m.argument)) for m in effects.messages]
            )
            for d in effects.delayed:
                if isinstance(d, DelayedCancel):
                    db.execute(
                        "DELETE FROM delayed WHERE sender_fn = ? AND sender_id = ? AND token = ?",
                        (fn, id, d.token),
                    )
                else:
                    _insert_delayed(db, address, d)
            written = []
            for e in effects.egress:
                cursor = db.execute(
                    "INSERT INTO egress (egress, topic, key, value) VALUES (?, ?, ?, ?)",
                    (e.egress, e.topic, e.key, e.value),
                )
                assert cursor.lastrowid is not None
                written.append(StoredEgress(cursor.lastrowid, e.egress, e.topic, e.key, e.value))
            db.execute(
                "DELETE FROM state WHERE fn = ? AND id = ? AND expires_at <= ?", (fn, id, now_ms)
            )
            db.executemany(
                "UPDATE state SET expires_at = ? WHERE fn = ? AND id = ? AND name = ?",
                [(expires_at, fn, id, name) for name, expires_at in touched],
            )
            for w in effects.state:
                if w.typename is None:
                    db.execute(
                        "DELETE FROM state WHERE fn = ? AND id = ? AND name = ?", (fn, id, w.name)
                    )
                else:
                    db.execute(
                        "INSERT OR REPLACE INTO state (fn, id, name, typename, value, expires_at)"
                        " VALUES (?, ?, ?, ?, ?, ?)",
                        (fn, id, w.name, w.typename, w.value, w.expires_at),
                    )
            db.execute(
                f"DELETE FROM inbox WHERE seq IN ({','.join('?' * len(consumed))})",
                [q.seq for q in consumed],
            )
            db.execute(
                "INSERT INTO counters (name, value) VALUES ('processed', ?)"
                " ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
                (len(consumed),),
            )
        return written

    def next_fire_at(self) -> int | None:
        row = self._db.execute("SELECT MIN(fire_at) FROM delayed").fetchone()
        return None if row[0] is None else int(row[0])

    def fire_due(self, now_ms: int) -> list[Address]:
        """Move the delayed messages due at ``now_ms`` into their targets' queues, in time order."""
        with self._transaction() as db:
            rows = db.execute(
                "SELECT seq, sender_fn, sender_id, fn, id, argument FROM delayed WHERE fire_at <= ? ORDER BY fire_at, seq",
                (now_ms,),
            ).fetchall()
            messages = [
                Incoming(Address(*_split(fn), id), _address(sfn, sid), bytes(arg))
                for _, sfn, sid, fn, id, arg in rows
            ]
            _insert_messages(db, messages)
            db.execute("DELETE FROM delayed WHERE fire_at <= ?", (now_ms,))
        return [m.target for m in messages]

    def purge_expired(self, now_ms: int) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM state WHERE expires_at <= ?", (now_ms,))

    # -- egress ----------------------------------------------------------------------------

    def egress_after(self, seq: int) -> list[StoredEgress]:
        rows = self._db.execute(
            "SELECT seq, egress, topic, key, value FROM egress WHERE seq > ? ORDER BY seq", (seq,)
        )
        return [StoredEgress(s, e, t, k, bytes(v)) for s, e, t, k, v in rows]

    def egress_topics(self) -> list[str]:
        return [topic for (topic,) in self._db.execute("SELECT DISTINCT topic FROM egress")]

    def egress_of(self, topic: str) -> list[StoredEgress]:
        rows = self._db.execute(
            "SELECT seq, egress, topic, key, value FROM egress WHERE topic = ? ORDER BY seq",
            (topic,),
        )
        return [StoredEgress(s, e, t, k, bytes(v)) for s, e, t, k, v in rows]

    def pop_egress(self, topic: str, egress: str | None = None) -> StoredEgress | None:
        """The oldest record of ``topic`` (written by ``egress``, if given) not read yet, marked as read."""
        with self._transaction() as db:
            row = db.execute(
                "SELECT seq, egress, topic, key, value FROM egress WHERE topic = ? AND popped = 0"
                " AND (? IS NULL OR egress = ?) ORDER BY seq LIMIT 1",
                (topic, egress, egress),
            ).fetchone()
            if row is None:
                return None
            db.execute("UPDATE egress SET popped = 1 WHERE seq = ?", (row[0],))
        s, e, t, k, v = row
        return StoredEgress(s, e, t, k, bytes(v))

    # -- status ----------------------------------------------------------------------------

    def counts(self) -> Counts:
        def one(sql: str) -> int:
            row = self._db.execute(sql).fetchone()
            return int(row[0]) if row and row[0] is not None else 0

        return Counts(
            one("SELECT value FROM counters WHERE name = 'processed'"),
            one("SELECT COUNT(*) FROM inbox"),
            one("SELECT COUNT(*) FROM delayed"),
            one("SELECT COUNT(*) FROM egress"),
        )


def _insert_messages(db: sqlite3.Connection, messages: Sequence[Incoming]) -> None:
    db.executemany(
        "INSERT INTO inbox (fn, id, caller_fn, caller_id, argument) VALUES (?, ?, ?, ?, ?)",
        [
            (
                m.target.typename,
                m.target.id,
                m.caller.typename if m.caller else None,
                m.caller.id if m.caller else None,
                m.argument,
            )
            for m in messages
        ],
    )


def _insert_delayed(db: sqlite3.Connection, sender: Address, d: DelayedSend) -> None:
    db.execute(
        "INSERT INTO delayed (fire_at, sender_fn, sender_id, token, fn, id, argument) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            d.fire_at,
            sender.typename,
            sender.id,
            d.token,
            d.target.typename,
            d.target.id,
            d.argument,
        ),
    )
