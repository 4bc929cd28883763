"""Egress records are numbered in the order written, within a group commit too, with no gaps
left by a batch that rolled back."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from sfidl.local.effects import Effects, EgressOut, StateWrite
from sfidl.local.errors import StoreError
from sfidl.local.records import Address
from sfidl.local.store import Store


def effects(key: str) -> Effects:
    record = EgressOut("demo/counts", "counts", key, key.encode())
    return Effects((), (), (record,), (StateWrite("n", "t/n", b"1", None),))


def commit(store: Store, id: str) -> list[int]:
    written = store.commit_batch(Address("demo", "f", id), [], effects(id), [], 0)
    return [record.seq for record in written]


def test_numbers_follow_each_other_across_a_group_and_a_rolled_back_batch(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite"
    Store(db).close()
    with sqlite3.connect(db) as raw:  # a real failure of SQLite's, after the batch's egress insert
        raw.execute(
            "CREATE TRIGGER b_fails BEFORE INSERT ON state WHEN NEW.id = 'b'"
            " BEGIN SELECT RAISE(ABORT, 'b cannot be written'); END"
        )
    raw.close()
    store = Store(db)
    assert commit(store, "first") == [1]
    with store.group():
        assert commit(store, "a") == [2]
        with pytest.raises(StoreError, match="b cannot be written"):
            commit(store, "b")
        assert commit(store, "c") == [3]
        assert commit(store, "d") == [4]
    assert commit(store, "last") == [5]
    assert [(r.seq, r.key) for r in store.egress_of("counts")] == [
        (1, "first"),
        (2, "a"),
        (3, "c"),
        (4, "d"),
        (5, "last"),
    ]
    store.close()
