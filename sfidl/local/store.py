"""Durable state of the local runtime in SQLite: queues, state, delayed messages, egress, offsets.

Every method that changes data runs one transaction, so a process killed at any moment
leaves either all of an operation's writes or none of them. Any failure of the database (a
full disk, a read-only file, a file that is no sfidl database) is a :class:`StoreError`
naming the file and what to do; the failed transaction wrote nothing.

Messages to an address are delivered in the order they became due (``inbox.due_at``): a
delayed message at its fire time, any other at the time it was sent. So a reply queued
before its call's timeout was due is delivered first, however long the runtime was down.
"""

from __future__ import annotations

import errno
import functools
import fcntl
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from itertools import chain, count, repeat
from operator import add, attrgetter
from pathlib import Path
from typing import Any, NamedTuple

from sfidl.local.effects import DelayedCancel, DelayedSend, Effects, StateSpec
from sfidl.local.errors import StoreError
from sfidl.local.records import Address

LAYOUT = 1
"""``PRAGMA user_version`` of a database of :data:`SCHEMA`'s layout. Layout 0 (no version
written) made its queues, delayed messages and egress records AUTOINCREMENT tables:
:meth:`Store._upgrade` rewrites them in place."""

# Queues and state are rowid tables with an index, not WITHOUT ROWID tables clustered on their
# keys: clustered, a queued message of ~1 KB or more (or a state value) spills out of the key
# b-tree's pages, and benchmarks/local_runtime.py's SQL time doubled with 1.5 KB messages
# (-25 % with tiny ones). No AUTOINCREMENT: it writes sqlite_sequence on every insert, and
# a new row is numbered above every row present anyway, which is all a queue's order needs
# (the number of a consumed message may come again).
SCHEMA = """
CREATE TABLE IF NOT EXISTS inbox (
    seq INTEGER PRIMARY KEY,
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
    seq INTEGER PRIMARY KEY,
    fire_at INTEGER NOT NULL,
    sender_fn TEXT NOT NULL, sender_id TEXT NOT NULL, token TEXT NOT NULL,
    fn TEXT NOT NULL, id TEXT NOT NULL,
    argument BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS delayed_by_time ON delayed (fire_at, seq);
CREATE INDEX IF NOT EXISTS delayed_by_token ON delayed (sender_fn, sender_id, token);
CREATE TABLE IF NOT EXISTS egress (
    seq INTEGER PRIMARY KEY,
    egress TEXT NOT NULL, topic TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,
    popped INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS egress_by_topic ON egress (topic, popped, seq);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS ingress_keys (
    key TEXT PRIMARY KEY, fingerprint BLOB NOT NULL, at_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS ingress_keys_by_time ON ingress_keys (at_ms);
"""

# The tables layout 0 had otherwise, as it made them (the others are as in SCHEMA): what
# such a table must be before Store._upgrade copies its rows.
_LAYOUT_0 = """
CREATE TABLE inbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    fn TEXT NOT NULL, id TEXT NOT NULL,
    caller_fn TEXT, caller_id TEXT,
    argument BLOB NOT NULL,
    due_at INTEGER NOT NULL DEFAULT 0);
CREATE TABLE state (
    fn TEXT NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL,
    typename TEXT NOT NULL, value BLOB NOT NULL, expires_at INTEGER,
    PRIMARY KEY (fn, id, name));
CREATE TABLE delayed (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    fire_at INTEGER NOT NULL,
    sender_fn TEXT NOT NULL, sender_id TEXT NOT NULL, token TEXT NOT NULL,
    fn TEXT NOT NULL, id TEXT NOT NULL,
    argument BLOB NOT NULL);
CREATE TABLE egress (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    egress TEXT NOT NULL, topic TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,
    popped INTEGER NOT NULL DEFAULT 0);
"""


class Queued(NamedTuple):  # a tuple: made by the thousand per second
    """A message waiting in an address's queue."""

    seq: int
    target: Address
    caller: Address | None
    argument: bytes  # a serialized TypedValue
    due_at: int  # the queue's order is (due_at, seq)


# A Queued made from a tuple of its fields in C: the named tuple's own constructor is a Python
# function, and one runs for every message delivered.
_queued = functools.partial(tuple.__new__, Queued)
_SEQ = attrgetter("seq")
# Python's sqlite3 binds a bytearray as it is, but first offers a bytes value (or None) to its
# adapters, which costs a failed attribute lookup and its formatted AttributeError per value
# (Python 3.11): a copy into a bytearray is much cheaper.
_BLOB = bytearray
_TARGET = attrgetter("target")
_CALLER = attrgetter("caller")
_ARGUMENT = attrgetter("argument")
_TARGET_ID = attrgetter("id")  # of a target, never None (a caller may be: _id)


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


class StoredEgress(NamedTuple):  # a tuple: the row inserted as it is
    """An egress record in the database; ``seq`` numbers the records in the order written."""

    seq: int
    egress: str
    topic: str
    key: str
    value: bytes


# A StoredEgress made from a tuple of its fields in C (see _queued).
_stored_egress = functools.partial(tuple.__new__, StoredEgress)


@dataclass(frozen=True)
class Counts:
    processed: int
    queued: int
    delayed: int
    egress: int


def _statements(schema: str) -> list[str]:
    return [statement.strip() for statement in schema.split(";") if statement.strip()]


def _split(fn: str) -> tuple[str, str]:
    namespace, _, type_ = fn.rpartition("/")
    return namespace, type_


@functools.lru_cache(maxsize=4096)  # the same few callers, batch after batch
def _address(fn: str | None, id: str | None) -> Address | None:
    if fn is None or id is None:
        return None
    return Address(*_split(fn), id)


@functools.lru_cache(maxsize=4096)  # the same targets and callers, batch after batch
def _typename(address: Address | None) -> str | None:
    return None if address is None else address.typename


def _id(address: Address | None) -> str | None:
    return None if address is None else address.id


@functools.lru_cache(maxsize=128)
def _insert_sql(head: str, width: int, rows: int) -> str:
    return head + " VALUES " + ", ".join(["(" + ", ".join("?" * width) + ")"] * rows)


def _insert_many(db: sqlite3.Connection, head: str, width: int, rows: Iterable[Any]) -> None:
    """``head`` (``INSERT INTO table (columns)``) for each of ``rows``, several rows to a
    statement: SQLite's work per statement run (and the Python binding's, which lets go of
    the interpreter lock around each) is about a third of a row's insert. A statement holds
    up to 16 rows, or 64, so only those 17 are prepared and cached per table."""
    rows = list(rows)
    start, left = 0, len(rows)
    while left:
        size = left if left <= 16 else 64 if left >= 64 else 16
        db.execute(
            _insert_sql(head, width, size), list(chain.from_iterable(rows[start : start + size]))
        )
        start, left = start + size, left - size


APPLICATION_ID = 0x5346444C
"""``PRAGMA application_id`` of a local runtime database ("SFDL"): a file holding it is ours."""

# The files this process has a store open on, by identity (device, inode): see _lock.
_OPEN: set[tuple[int, int]] = set()


def _lock(path: Path) -> tuple[int, tuple[int, int]]:
    """An exclusive lock on the database file itself, held until :meth:`Store.close`.

    Keyed on the file, not its name, so a hard link, a symlink or another spelling of the
    path finds it taken; the kernel drops it when the process dies. (A ``flock`` lock is
    apart from the POSIX locks SQLite takes on the same file.) Returns the descriptor
    holding it and the file's identity.
    """
    try:
        known = os.stat(path)
    except FileNotFoundError:
        pass
    else:
        # Closing a descriptor of the file would drop the POSIX locks SQLite holds on it
        # for the store already open in this process: refuse before opening one.
        if (known.st_dev, known.st_ino) in _OPEN:
            raise StoreError(
                f"the database {path} is in use by another sfidl run (pid {os.getpid()},"
                " this process); stop that one or give another --db"
            )
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except PermissionError:
        try:  # a read-only file still takes the lock; the first write says it is read-only
            fd = os.open(path, os.O_RDONLY)
        except OSError as error:
            raise _failure(path, error) from None
    except OSError as error:
        raise _failure(path, error) from None
    stat = os.fstat(fd)
    identity = (stat.st_dev, stat.st_ino)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StoreError(
            f"the database {path} is in use by another sfidl run{_holder(identity)};"
            " stop that one or give another --db"
        ) from None
    return fd, identity


def _holder(identity: tuple[int, int]) -> str:
    """`` (pid N)`` for the process holding the flock lock on the file, when Linux says."""
    device, inode = identity
    wanted = f"{os.major(device):02x}:{os.minor(device):02x}:{inode}"
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as locks:
            for line in locks:
                fields = line.split()
                if len(fields) > 5 and fields[1] == "FLOCK" and fields[5] == wanted:
                    return f" (pid {fields[4]})"
    except OSError:
        pass
    return ""


def _failure(path: Path | str, error: sqlite3.Error | OSError) -> StoreError:
    """What failed with the database ``path``, and what to do about it."""
    code = getattr(error, "sqlite_errorname", "") or errno.errorcode.get(
        getattr(error, "errno", None) or 0, ""
    )
    detail = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
    if code in ("SQLITE_FULL", "ENOSPC", "EFBIG", "EDQUOT"):
        return StoreError(
            f"the disk holding the database {path} is full ({detail}): nothing unanswered was"
            " kept, nothing answered is lost; free some space and start sfidl run again"
        )
    if code.startswith("SQLITE_READONLY") or code in ("EROFS", "EACCES", "EPERM"):
        return StoreError(
            f"the database {path} cannot be written ({detail}): make the file and its folder"
            " writable (SQLite keeps a -wal and a -shm file beside it), or give another --db"
        )
    if code.startswith("SQLITE_CANTOPEN") or code in ("ENOENT", "ENOTDIR", "EISDIR"):
        return StoreError(
            f"cannot open the database {path} ({detail}): its folder must exist and the file"
            " and folder be readable and writable (SQLite keeps a -wal and a -shm file beside"
            " it); or give another --db"
        )
    if code in ("SQLITE_NOTADB", "SQLITE_CORRUPT"):
        return StoreError(
            f"{path} is not a database sfidl run can use ({detail}): give another --db,"
            " or move the file away to start afresh"
        )
    return StoreError(
        f"the database {path} failed ({detail}): check the disk and the file, then start"
        " sfidl run again (nothing unanswered was kept)"
    )


class _Connection(sqlite3.Connection):
    """A connection whose every failure is a :class:`StoreError` naming the file."""

    path = ""
    failure_observers: list[Callable[[StoreError], None]]

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        try:
            return super().execute(sql, parameters)
        except sqlite3.Error as error:
            raise self._failed(error) from error

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> sqlite3.Cursor:
        try:
            return super().executemany(sql, parameters)
        except sqlite3.Error as error:
            raise self._failed(error) from error

    def _failed(self, error: sqlite3.Error) -> StoreError:
        failure = _failure(self.path, error)
        for observe in self.failure_observers:
            observe(failure)
        return failure


def _columns(db: sqlite3.Connection, table: str) -> list[tuple[object, ...]]:
    """Name, type, not-null, default and primary-key position of each column of ``table``."""
    return [tuple(row[1:]) for row in db.execute(f"PRAGMA table_info({table})")]


@functools.cache
def _expected_columns(schema: str = SCHEMA) -> dict[str, list[tuple[object, ...]]]:
    """The columns of every table of ``schema``, as SQLite reports them."""
    db = sqlite3.connect(":memory:")
    db.executescript(schema)
    tables = [name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    expected = {name: _columns(db, name) for name in tables if not name.startswith("sqlite_")}
    db.close()
    return expected


class Store:
    """The local runtime's SQLite database (a file, or ``":memory:"`` for the test harness).

    A file is used by one store at a time, whatever path leads to it: a second one, in this
    process or another, is refused with a :class:`StoreError`, since two engines would
    deliver the same queued messages twice. So is a file that is no database of sfidl's
    (another schema, or tables of its own beside ours).

    ``failure_observers`` are told of every :class:`StoreError` after opening (the engine
    stops on it, wherever it happened).
    """

    def __init__(self, path: Path | str) -> None:
        self._path = str(path)
        self._lock: int | None = None
        self._identity: tuple[int, int] | None = None
        self._grouped = False
        self._processed = 0  # by the batches of the open group so far
        self._last_egress: int | None = None  # the last egress number given out in the open group
        self.failure_observers: list[Callable[[StoreError], None]] = []
        if self._path != ":memory:":
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise _failure(path, error) from None
            self._lock, self._identity = _lock(Path(path))
            _OPEN.add(self._identity)
        try:
            db = sqlite3.connect(self._path, isolation_level=None, factory=_Connection)
            db.path = self._path
            db.failure_observers = []
            self._db = db
            try:
                self._prepare()
                if self._path != ":memory:":
                    # WAL with synchronous=NORMAL survives a killed process (not a power cut).
                    # Only now: the mode is kept in the file, which _prepare may refuse.
                    db.execute("PRAGMA journal_mode=WAL")
                    db.execute("PRAGMA synchronous=NORMAL")
            except BaseException:
                db.close()
                raise
            db.failure_observers = self.failure_observers
        except BaseException:
            self._unlock()  # not usable after all: let another run have it
            raise

    def _prepare(self) -> None:
        """Create the tables, or check that the file holds ours (upgrading an older layout)."""
        db = self._db
        found = {
            name
            for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if not name.startswith("sqlite_")
        }
        (application,) = db.execute("PRAGMA application_id").fetchone()
        (layout,) = db.execute("PRAGMA user_version").fetchone()
        expected = _expected_columns()
        if application not in (0, APPLICATION_ID) or (
            application == 0 and found and not found <= set(expected)
        ):
            # Another program's database: adding our tables to it would be no help to either.
            what = (
                f"application id {application:#x}"
                if application
                else "tables " + ", ".join(sorted(found - set(expected)))
            )
            raise StoreError(
                f"{self._path} is not a database of sfidl run (it has {what}): give another"
                " --db, or move the file away"
            )
        if layout not in (0, LAYOUT):
            raise StoreError(
                f"{self._path} has a database layout this sfidl run does not know (user_version"
                f" {layout}; it knows 0 to {LAYOUT}): run the sfidl that wrote it, give another"
                " --db, or move the file away"
            )
        with self._transaction():
            if layout < LAYOUT and found:
                self._upgrade(found)
            for statement in _statements(SCHEMA):
                db.execute(statement)
            for table, columns in expected.items():
                self._check_columns(table, columns)
            db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            db.execute(f"PRAGMA user_version = {LAYOUT}")

    def _upgrade(self, found: set[str]) -> None:
        """Rewrite the tables of a layout 0 file (:data:`_LAYOUT_0`) as :data:`SCHEMA` makes
        them, every row with every column, ``seq`` included: the queues keep their order and
        the egress records their numbers. Runs in :meth:`_prepare`'s transaction."""
        db = self._db
        if "inbox" in found and "due_at" not in {c[0] for c in _columns(db, "inbox")}:
            # Written before messages had a due time: theirs is 0, before anything new.
            db.execute("ALTER TABLE inbox ADD COLUMN due_at INTEGER NOT NULL DEFAULT 0")
        previous = _expected_columns(_LAYOUT_0)
        tables = sorted(found & set(previous))
        for table in tables:
            self._check_columns(table, previous[table])
        for table in tables:
            # Made by SCHEMA's own statement, so the file ends as a new one begins.
            (create,) = [
                sql
                for sql in _statements(SCHEMA)
                if sql.startswith(f"CREATE TABLE IF NOT EXISTS {table} (")
            ]
            columns = ", ".join(str(column[0]) for column in previous[table])
            db.execute(f"ALTER TABLE {table} RENAME TO layout_0_{table}")
            db.execute(create)
            db.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM layout_0_{table}")
            # With its indexes; the SCHEMA statements after this make the new layout's.
            db.execute(f"DROP TABLE layout_0_{table}")

    def _check_columns(self, table: str, columns: list[tuple[object, ...]]) -> None:
        found = _columns(self._db, table)
        if found != columns:
            raise StoreError(
                f"{self._path} is not a database of sfidl run: its table {table} has"
                f" other columns ({', '.join(str(c[0]) for c in found)});"
                " give another --db, or move the file away"
            )

    def _unlock(self) -> None:
        if self._lock is not None:
            os.close(self._lock)  # releases the lock
            self._lock = None
        if self._identity is not None:
            _OPEN.discard(self._identity)
            self._identity = None

    def close(self) -> None:
        self._db.close()
        self._unlock()  # after SQLite closed the file: see _lock

    @contextmanager
    def group(self) -> Iterator[None]:
        """One transaction around several operations: each write method called inside it runs
        in a savepoint, so one that fails rolls back alone, and those that succeeded commit
        together at the end (a crash before the end commits none of them)."""
        with self._transaction() as db:
            self._grouped, self._processed, self._last_egress = True, 0, None
            try:
                yield
                _count_processed(db, self._processed)
            finally:
                self._grouped, self._last_egress = False, None

    @property
    def in_group(self) -> bool:
        """Whether a :meth:`group`'s transaction is open (SQLite rolls a whole transaction back
        on some failures, a full disk say: then the group is over)."""
        return self._grouped and self._db.in_transaction

    def _transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """A transaction of its own, or a savepoint in the open :meth:`group`'s (returned as it
        is, not wrapped in another generator: one runs per batch)."""
        return self._savepoint() if self._grouped else self._begin()

    @contextmanager
    def _begin(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
            self._db.execute("COMMIT")
        except BaseException:
            # SQLite may have rolled back already (a full disk, an I/O error).
            if self._db.in_transaction:
                try:
                    self._db.execute("ROLLBACK")
                except StoreError:
                    pass  # the error that made us roll back says more
            raise

    @contextmanager
    def _savepoint(self) -> Iterator[sqlite3.Connection]:
        if not self._db.in_transaction:
            raise StoreError(f"the database {self._path} rolled back a group of writes")
        self._db.execute("SAVEPOINT one")
        try:
            yield self._db
            self._db.execute("RELEASE one")
        except BaseException:
            self._last_egress = None  # what this savepoint gave out is undone: read it again
            if self._db.in_transaction:  # else SQLite rolled the whole group back already
                try:
                    self._db.execute("ROLLBACK TO one")
                    self._db.execute("RELEASE one")
                except StoreError:
                    pass  # the error that made us roll back says more
            raise

    # -- ingress ---------------------------------------------------------------------------

    def enqueue(
        self,
        messages: Sequence[Incoming],
        source: str | None = None,
        offset: int = 0,
        key: IngressKey | None = None,
        due_at: int = 0,
    ) -> bool:
        """Queue ``messages``, due at ``due_at`` (epoch ms); with ``source``, record ``offset``
        as read in the same transaction.

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
            _insert_messages(db, messages, due_at)
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
        """The first ``limit`` messages queued for ``address``, in the order they became due."""
        rows = self._db.execute(
            "SELECT seq, caller_fn, caller_id, argument, due_at FROM inbox WHERE fn = ? AND id = ?"
            " ORDER BY due_at, seq LIMIT ?",
            (address.typename, address.id, limit),
        ).fetchall()
        if not rows:
            return []
        seqs, callers_fn, callers_id, arguments, due_at = zip(*rows)
        # Column by column, each a map in C: no Python code runs per message.
        callers = map(_address, callers_fn, callers_id)
        return list(map(_queued, zip(seqs, repeat(address), callers, arguments, due_at)))

    def state(self, address: Address, now_ms: int) -> dict[str, tuple[str, bytes]]:
        """The live (unexpired) state values of ``address``: name -> (typename, value)."""
        return self.live_state(address, now_ms)[0]

    def live_state(
        self, address: Address, now_ms: int
    ) -> tuple[dict[str, tuple[str, bytes]], bool]:
        """:meth:`state`, and whether ``address`` holds expired values too (for :meth:`commit_batch`)."""
        values: dict[str, tuple[str, bytes]] = {}
        expired = False
        # fetchall and a loop over the list: faster than iterating the cursor row by row.
        for name, typename, value, expires_at in self._db.execute(
            "SELECT name, typename, value, expires_at FROM state WHERE fn = ? AND id = ?",
            (address.typename, address.id),
        ).fetchall():
            if expires_at is None or expires_at > now_ms:
                values[name] = (typename, value)  # a BLOB comes back as bytes
            else:
                expired = True
        return values, expired

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
        sent_at: int | None = None,
        expired: bool = True,
    ) -> list[StoredEgress]:
        """Apply one batch's effects and consume its input, in one transaction.

        ``touched`` lists the states whose expiry an invocation renews (after-invoke TTL).
        The messages the batch sends are due at ``sent_at`` (default ``now_ms``). The
        address's states expired at ``now_ms`` are deleted, unless ``expired`` says it held
        none when its state was read (a value expiring since is not read again either: only
        :meth:`purge_expired` deletes it). Returns the egress records written.
        """
        fn, id = address.typename, address.id
        with self._transaction() as db:
            if effects.messages:
                due_at = now_ms if sent_at is None else sent_at
                arguments = map(_ARGUMENT, effects.messages)
                targets = list(map(_TARGET, effects.messages))
                _insert_inbox(db, targets, repeat(fn), repeat(id), arguments, due_at)
            for d in effects.delayed:
                if isinstance(d, DelayedCancel):
                    db.execute(
                        "DELETE FROM delayed WHERE sender_fn = ? AND sender_id = ? AND token = ?",
                        (fn, id, d.token),
                    )
                else:
                    _insert_delayed(db, address, d)
            written = self._insert_egress(db, effects)
            if expired:
                db.execute(
                    "DELETE FROM state WHERE fn = ? AND id = ? AND expires_at <= ?",
                    (fn, id, now_ms),
                )
            if touched:
                db.executemany(
                    "UPDATE state SET expires_at = ? WHERE fn = ? AND id = ? AND name = ?",
                    [(expires_at, fn, id, name) for name, expires_at in touched],
                )
            deleted = [(fn, id, w.name) for w in effects.state if w.typename is None]
            if deleted:
                db.executemany("DELETE FROM state WHERE fn = ? AND id = ? AND name = ?", deleted)
            if len(deleted) < len(effects.state):
                _insert_many(
                    db,
                    "INSERT OR REPLACE INTO state (fn, id, name, typename, value, expires_at)",
                    6,
                    [
                        (fn, id, w.name, w.typename, w.value, w.expires_at)
                        for w in effects.state
                        if w.typename is not None
                    ],
                )
            if consumed:
                # The batch was the address's first messages by (due_at, seq) when read, and
                # whatever was queued since has a higher seq (a new row's is above every row
                # present, the batch's among them): so the batch is exactly those up to its
                # last by (due_at, seq) and its highest seq. One statement, a range of the
                # index, instead of a lookup per message.
                last = consumed[-1]
                db.execute(
                    "DELETE FROM inbox WHERE fn = ? AND id = ? AND seq <= ?"
                    " AND (due_at, seq) <= (?, ?)",
                    (fn, id, max(map(_SEQ, consumed)), last.due_at, last.seq),
                )
            if not self._grouped:
                _count_processed(db, len(consumed))
        if self._grouped:  # the group counts them once, should this batch's savepoint hold
            self._processed += len(consumed)
        return written

    def _insert_egress(self, db: sqlite3.Connection, effects: Effects) -> list[StoredEgress]:
        """Insert a batch's egress records, numbered after every record so far
        (records are never deleted, so the highest number is the last one given out; within a
        group, the store keeps it rather than asking each batch's savepoint again)."""
        if not effects.egress:
            return []
        last = self._last_egress
        if last is None:
            (last,) = db.execute("SELECT COALESCE(MAX(seq), 0) FROM egress").fetchone()
        # (seq,) + each record, made a StoredEgress in C.
        numbered = map(add, zip(count(int(last) + 1)), effects.egress)
        written = list(map(_stored_egress, numbered))
        _insert_many(db, "INSERT INTO egress (seq, egress, topic, key, value)", 5, written)
        if self._grouped:
            self._last_egress = written[-1].seq
        return written

    def last_due(self) -> int:
        """The latest due time of a queued message (0 when none is queued)."""
        row = self._db.execute("SELECT MAX(due_at) FROM inbox").fetchone()
        return 0 if row[0] is None else int(row[0])

    def next_fire_at(self) -> int | None:
        row = self._db.execute("SELECT MIN(fire_at) FROM delayed").fetchone()
        return None if row[0] is None else int(row[0])

    def fire_due(self, now_ms: int) -> list[Address]:
        """Move the delayed messages due at ``now_ms`` into their targets' queues, in time order."""
        with self._transaction() as db:
            rows = db.execute(
                "SELECT fire_at, sender_fn, sender_id, fn, id, argument FROM delayed WHERE fire_at <= ? ORDER BY fire_at, seq",
                (now_ms,),
            ).fetchall()
            messages = [
                Incoming(Address(*_split(fn), id), _address(sfn, sid), bytes(arg))
                for _, sfn, sid, fn, id, arg in rows
            ]
            for (fire_at, *_), message in zip(rows, messages):
                _insert_messages(db, [message], fire_at)  # due when it was to fire, not now
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

    def has_egress(self, topic: str, egress: str | None = None) -> bool:
        """Whether ``topic`` holds a record (of ``egress``, if given) not read yet."""
        row = self._db.execute(
            "SELECT 1 FROM egress WHERE topic = ? AND popped = 0 AND (? IS NULL OR egress = ?)"
            " LIMIT 1",
            (topic, egress, egress),
        ).fetchone()
        return row is not None

    def pop_egress(
        self, topic: str, egress: str | None = None, limit: int = 1
    ) -> list[StoredEgress]:
        """The oldest ``limit`` records of ``topic`` (written by ``egress``, if given) not read
        yet, oldest first, marked as read."""
        with self._transaction() as db:
            rows = db.execute(
                "SELECT seq, egress, topic, key, value FROM egress WHERE topic = ? AND popped = 0"
                " AND (? IS NULL OR egress = ?) ORDER BY seq LIMIT ?",
                (topic, egress, egress, limit),
            ).fetchall()
            if rows:  # exactly those rows: the unread ones of the same filter up to the last
                db.execute(
                    "UPDATE egress SET popped = 1 WHERE topic = ? AND popped = 0"
                    " AND (? IS NULL OR egress = ?) AND seq <= ?",
                    (topic, egress, egress, rows[-1][0]),
                )
        return [StoredEgress(s, e, t, k, bytes(v)) for s, e, t, k, v in rows]

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


def _count_processed(db: sqlite3.Connection, count: int) -> None:
    db.execute(
        "INSERT INTO counters (name, value) VALUES ('processed', ?)"
        " ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
        (count,),
    )


_INSERT_INBOX = "INSERT INTO inbox (fn, id, caller_fn, caller_id, argument, due_at)"


def _insert_messages(db: sqlite3.Connection, messages: Sequence[Incoming], due_at: int) -> None:
    targets = list(map(_TARGET, messages))
    callers = list(map(_CALLER, messages))
    arguments = map(_ARGUMENT, messages)
    if not any(callers):  # from an ingress: the caller columns left NULL, not bound to None
        head = "INSERT INTO inbox (fn, id, argument, due_at)"
        blobs = map(_BLOB, arguments)
        rows = zip(map(_typename, targets), map(_TARGET_ID, targets), blobs, repeat(due_at))
        _insert_many(db, head, 4, rows)
        return
    callers_fn, callers_id = map(_typename, callers), map(_id, callers)
    _insert_inbox(db, targets, callers_fn, callers_id, arguments, due_at)


def _insert_inbox(
    db: sqlite3.Connection,
    targets: Sequence[Address],
    callers_fn: Iterable[str | None],
    callers_id: Iterable[str | None],
    arguments: Iterable[bytes],
    due_at: int,
) -> None:
    """Queue a message per target, each from its caller, all due at ``due_at``."""
    rows = zip(
        map(_typename, targets),
        map(_TARGET_ID, targets),
        callers_fn,
        callers_id,
        map(_BLOB, arguments),
        repeat(due_at),
    )
    _insert_many(db, _INSERT_INBOX, 6, rows)


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
