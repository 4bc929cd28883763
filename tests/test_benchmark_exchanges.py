"""benchmarks/call_roundtrip.py measures what it says: each exchange, replayed once, is the
full exchange for the sfidl app and for both hand-written references (its checks assert it).
No timing is asserted here; the figures come from running the script."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "call_roundtrip.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("call_roundtrip", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["call_roundtrip"] = module
    spec.loader.exec_module(module)
    return module


def test_every_exchange_replays_for_every_variant(bench: ModuleType, tmp_path: Path) -> None:
    pb, gen = bench.compiled(tmp_path)
    variants = bench.variants(pb, gen)
    assert list(variants) == ["sfidl", "hand-written, same semantics", "plain SDK sends"]
    names = []
    for exchange in bench.exchanges(pb):
        medians, counted = bench.measure(exchange, variants, iterations=1, repeat=1)
        assert set(medians) == set(counted) == set(variants)
        assert all(len(values) == len(exchange.steps) + 1 for values in medians.values())
        for counts in counted.values():  # each step runs Python code; the last is their sum
            assert len(counts) == len(exchange.steps) + 1
            assert all(n > 0 for n in counts) and sum(counts[:-1]) == counts[-1]
        names.append(exchange.name)
    assert names == ["call", "deferred reply", "exclusive call"]
