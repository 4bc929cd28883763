"""Idempotency keys in the store: a request queued under a key is queued once, durably."""

from __future__ import annotations

from pathlib import Path

from sfidl.local.records import Address
from sfidl.local.store import Incoming, IngressKey, Store
from sfidl.runtime.types import typed_value

MESSAGE = Incoming(
    Address("demo", "counter", "a"), None, typed_value("demo/raw", b"x").SerializeToString()
)


def test_a_key_queues_once_across_a_reopen_until_it_is_forgotten(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite"
    store = Store(db)
    first = IngressKey("k1", b"f1", at_ms=1_000)
    assert store.enqueue([MESSAGE], key=first) is True
    assert store.enqueue([MESSAGE], key=IngressKey("k1", b"other", at_ms=2_000)) is False
    store.close()
    store = Store(db)  # durable: a restarted runtime still knows the key
    assert store.enqueue([MESSAGE], key=first) is False
    assert store.ingress_key("k1") == first  # the first request's fingerprint and time
    assert store.counts().queued == 1
    store.forget_ingress_keys(before_ms=1_000)  # retention not over yet
    assert store.ingress_key("k1") == first
    store.forget_ingress_keys(before_ms=1_001)
    assert store.ingress_key("k1") is None
    assert store.enqueue([MESSAGE], key=first) is True
    assert store.counts().queued == 2
    store.close()


def test_without_a_key_every_request_queues(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.sqlite")
    assert store.enqueue([MESSAGE]) is True and store.enqueue([MESSAGE]) is True
    assert store.counts().queued == 2
    store.close()
