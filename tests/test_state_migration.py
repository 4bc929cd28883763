"""Declared state migrations: `state cart: CartV2 migrate from Cart;` (docs/breaking.md).

The program and its version-2 application are the case tests/cases/state_migration
(where mypy checks the application and rejects upgrade functions of the wrong type).
Version 1 is the same file without the migrations. In process, the Harness seeds state as
version 1 wrote it; end to end, version 1 runs under `sfidl run`, stops, and version 2
runs on the same database.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import sfidl.runtime as sf
from sfidl.check.lint import RULE_IDS
from sfidl.compiler import compile_file
from sfidl.frontend import load_program
from sfidl.local.errors import JobFailure, LocalRuntimeError
from sfidl.testing import Harness

CASE = Path(__file__).parent / "cases" / "state_migration"
SOURCE = CASE / "state_migration.sfidl"
CART = "migration.demo/user_cart"
DEADLINE_S = 120

# Version 1: the states in their old types, no migrations.
V2_STATES = "  state cart: CartV2 migrate from Cart;\n  state adds: int64 = 0 migrate from int32;\n"
V1_STATES = "  state cart: Cart;\n  state adds: int32 = 0;\n"
V1_APP = """
import state_migration_pb2 as pb
from state_migration_sfidl import StateMigrationApp, UserCart


class UserCartFunction(UserCart):
    def add(self, ctx, message):
        ctx.state.cart.items.extend([message.item] * message.quantity)
        ctx.state.adds += 1
        quantities = {}
        for item in ctx.state.cart.items:
            quantities[item] = quantities.get(item, 0) + 1
        ctx.egress.summaries.write(pb.Summary(quantities=quantities, adds=ctx.state.adds))


app = StateMigrationApp(user_cart=UserCartFunction())
"""


@pytest.fixture(scope="module")
def v2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """Version 2 compiled, and its application module (tests/cases/state_migration)."""
    out = tmp_path_factory.mktemp("state_migration")
    for name, data in compile_file(SOURCE).files.items():
        (out / name).write_bytes(data)
    sys.path.insert(0, str(out))
    try:
        spec = importlib.util.spec_from_file_location(
            "state_migration_app", CASE / "state_migration_app.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(out))


@pytest.fixture
def function(v2: ModuleType) -> Any:
    return v2.UserCartFunction()


@pytest.fixture
def harness(v2: ModuleType, function: Any) -> Iterator[Harness]:
    with Harness(v2.StateMigrationApp(user_cart=function)) as h:
        yield h


def _add(v2: ModuleType, harness: Harness, id: str, item: str, quantity: int = 1) -> None:
    harness.send(CART, id, v2.pb.Add(item=item, quantity=quantity))
    harness.run_until_quiet()


def test_the_old_type_counts_as_used() -> None:
    """Version 2 declares Cart only to decode what version 1 stored: not an unused message."""
    warnings = load_program(SOURCE, RULE_IDS).warnings
    assert [w for w in warnings if w.code == "unused-message"] == []
    assert len(warnings) == 2  # unbounded-state, for each state: the test needs no expiry


# ---------------------------------------------------------------- the runtime library


def test_old_state_is_upgraded_on_first_read_and_written_back_in_the_new_type(
    v2: ModuleType, harness: Harness, function: Any
) -> None:
    pb = v2.pb
    harness.seed_state(CART, "u1", "cart", pb.Cart(items=["sock", "sock", "hat"]), previous=True)
    harness.seed_state(CART, "u1", "adds", 2, previous=True)
    assert harness.state(CART, "u1", "cart", previous=True) == pb.Cart(
        items=["sock", "sock", "hat"]
    )
    assert harness.state(CART, "u1", "cart") == pb.CartV2()  # not upgraded yet

    _add(v2, harness, "u1", "sock")
    assert function.upgraded == ["cart ['sock', 'sock', 'hat']", "adds 2"]
    assert harness.state(CART, "u1", "cart") == pb.CartV2(quantities={"sock": 3, "hat": 1})
    assert harness.state(CART, "u1", "adds") == 3
    # The old values are gone, in the same response.
    assert harness.state(CART, "u1", "cart", previous=True) is None
    assert harness.state(CART, "u1", "adds", previous=True) is None
    [summary] = [r.value for r in harness.egress("summaries")]
    assert summary == pb.Summary(quantities={"sock": 3, "hat": 1}, adds=3)

    # Upgraded once: later reads see the stored new value.
    _add(v2, harness, "u1", "hat", 2)
    assert len(function.upgraded) == 2
    assert harness.state(CART, "u1", "cart") == pb.CartV2(quantities={"sock": 3, "hat": 3})


def test_an_instance_without_old_state_reads_the_default_and_upgrades_nothing(
    v2: ModuleType, harness: Harness, function: Any
) -> None:
    _add(v2, harness, "new", "sock")
    assert function.upgraded == []
    assert harness.state(CART, "new", "cart") == v2.pb.CartV2(quantities={"sock": 1})
    assert harness.state(CART, "new", "adds") == 1


def test_the_states_are_declared_under_the_old_type_and_a_name_of_the_new_one(
    v2: ModuleType, function: Any
) -> None:
    app = v2.StateMigrationApp(user_cart=function)
    declared = {name: t.typename for name, t in app.state_types(CART).items()}
    assert declared == {
        "cart": "type.googleapis.com/migration.demo.Cart",
        "sfidl_cart_as_migration_demo_cartv2": "type.googleapis.com/migration.demo.CartV2",
        "adds": "io.statefun.types/int",
        "sfidl_adds_as_long": "io.statefun.types/long",
    }  # and no hidden state: the function makes no calls


def test_a_write_or_delete_before_any_read_leaves_no_old_value_to_upgrade_later(
    v2: ModuleType, function: Any
) -> None:
    class Overwrite(v2.UserCartFunction):  # type: ignore[misc, name-defined]
        def add(self, ctx: Any, message: Any) -> None:
            if message.item == "reset":
                del ctx.state.cart
            else:
                ctx.state.cart = v2.pb.CartV2(quantities={message.item: 9})

    overwrite = Overwrite()
    with Harness(v2.StateMigrationApp(user_cart=overwrite)) as harness:
        for id, item in (("a", "sock"), ("b", "reset")):
            harness.seed_state(CART, id, "cart", v2.pb.Cart(items=["old"]), previous=True)
            _add(v2, harness, id, item)
            assert harness.state(CART, id, "cart", previous=True) is None
        assert harness.state(CART, "a", "cart") == v2.pb.CartV2(quantities={"sock": 9})
        assert harness.state(CART, "b", "cart") == v2.pb.CartV2()
    assert overwrite.upgraded == []


def test_an_upgrade_returning_another_type_fails_the_invocation(
    v2: ModuleType, function: Any
) -> None:
    class Wrong(v2.UserCartFunction):  # type: ignore[misc, name-defined]
        def migrate_cart(self, old: Any) -> Any:
            return old  # still a Cart

    with Harness(v2.StateMigrationApp(user_cart=Wrong())) as harness:
        harness.seed_state(CART, "u1", "cart", v2.pb.Cart(items=["x"]), previous=True)
        harness.send(CART, "u1", v2.pb.Add(item="y", quantity=1))
        with pytest.raises(JobFailure, match="migrate_cart returned Cart"):
            harness.run_until_quiet()


def test_a_missing_upgrade_function_fails_the_application_construction(v2: ModuleType) -> None:
    gen = sys.modules["state_migration_sfidl"]

    class NoUpgrades(sf.Function):
        """Not a subclass of the generated class, so nothing abstract stops it earlier."""

        sfidl_spec = gen.UserCart.sfidl_spec

        def add(self, ctx: Any, message: Any) -> None:
            pass

    with pytest.raises(TypeError, match="has no method migrate_cart: state 'cart' migrates from"):
        v2.StateMigrationApp(user_cart=NoUpgrades())
    # A subclass of the generated class cannot even be made without it.
    with pytest.raises(TypeError, match="abstract method.*migrate_adds"):

        class Partial(gen.UserCart):  # type: ignore[misc, name-defined]
            def add(self, ctx: Any, message: Any) -> None:
                pass

            def migrate_cart(self, old: Any) -> Any:
                return old

        Partial()


# ---------------------------------------------------------------- the Harness


def test_seeding_checks_the_state_and_the_type(v2: ModuleType, harness: Harness) -> None:
    pb = v2.pb
    with pytest.raises(LocalRuntimeError, match="migrates from .*Cart, not CartV2"):
        harness.seed_state(CART, "u1", "cart", pb.CartV2(), previous=True)
    with pytest.raises(LocalRuntimeError, match="migrates from io.statefun.types/int, not str"):
        harness.seed_state(CART, "u1", "adds", "3", previous=True)
    with pytest.raises(TypeError, match="holds migration.demo.CartV2 messages, not Cart"):
        harness.seed_state(CART, "u1", "cart", pb.Cart())
    with pytest.raises(LocalRuntimeError, match="declares no state 'nope'"):
        harness.seed_state(CART, "u1", "nope", 1)
    # Seeded in the current type, the state is read as is.
    harness.seed_state(CART, "u1", "cart", pb.CartV2(quantities={"a": 1}))
    assert harness.state(CART, "u1", "cart") == pb.CartV2(quantities={"a": 1})


# ---------------------------------------------------------------- end to end, and the check


def _write_version(folder: Path, states: str) -> Path:
    text = SOURCE.read_text()
    assert V2_STATES in text
    folder.mkdir()
    path = folder / "state_migration.sfidl"
    path.write_text(text.replace(V2_STATES, states))
    return path


def _run(tmp_path: Path, version: Path, app: Path, adds: list[tuple[str, int]]) -> list[Any]:
    """Run ``version`` with the application folder ``app`` on the shared database, feeding
    ``adds`` to user u1 until idle; the summaries it wrote."""
    name = version.parent.name
    records = tmp_path / f"{name}.jsonl"
    records.write_text(
        "".join(
            json.dumps({"ingress": "adds", "key": "u1", "value": {"item": i, "quantity": q}}) + "\n"
            for i, q in adds
        )
    )
    command = [
        sys.executable, "-m", "sfidl", "run", str(version), "--app", "state_migration_app",
        "-o", str(tmp_path / f"gen_{name}"), "--db", str(tmp_path / "local.sqlite"),
        "--port", "0", "--egress-port", "0", "--ingress-file", str(records),
        "--egress-dir", str(tmp_path / f"out_{name}"), "--stop-when-idle",
        "--idle-horizon", "1min", "--no-stdout",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(app)}
    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=DEADLINE_S
    )
    assert done.returncode == 0, done.stderr
    out = tmp_path / f"out_{name}" / "summaries.jsonl"
    return [json.loads(line)["value"] for line in out.read_text().splitlines()]


def test_version_2_upgrades_what_version_1_stored_on_the_same_database(tmp_path: Path) -> None:
    v1 = _write_version(tmp_path / "v1", V1_STATES)
    (tmp_path / "app1").mkdir()
    (tmp_path / "app1" / "state_migration_app.py").write_text(V1_APP)
    first = _run(tmp_path, v1, tmp_path / "app1", [("sock", 2), ("hat", 1)])
    assert first[-1] == {"quantities": {"sock": 2, "hat": 1}, "adds": "2"}

    v2 = _write_version(tmp_path / "v2", V2_STATES)
    # The check accepts the declared migrations (and would flag them undeclared).
    check = [sys.executable, "-m", "sfidl", "breaking", str(v2), "--against", str(v1)]
    done = subprocess.run(check, capture_output=True, text=True, timeout=DEADLINE_S)
    assert (done.returncode, done.stdout) == (0, "sfidl breaking: no breaking changes\n")
    v2_undeclared = _write_version(
        tmp_path / "v2_undeclared", V2_STATES.replace(" migrate from Cart", "")
    )
    check[4] = str(v2_undeclared)
    done = subprocess.run(check, capture_output=True, text=True, timeout=DEADLINE_S)
    assert done.returncode == 1 and "[STATE_TYPE]" in done.stdout

    second = _run(tmp_path, v2, CASE, [("sock", 1)])
    # The egress records of the database: version 1's, then version 2's one. Nothing lost:
    # version 1's two socks and a hat, and its two adds, then one more sock.
    assert second[:-1] == first
    assert second[-1] == {"quantities": {"sock": 3, "hat": 1}, "adds": "3"}
