"""Per-member effects at run time: untyped code doing what its member did not declare fails.

mypy already rejects these (tests/cases/calls); here the code reaches around its typed
context (another member's generated classes over the same invocation, or a part its
context lacks), and the runtime refuses each kind of effect, naming the function, the
member and the effect. The invocation fails, so nothing of it is applied.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from types import ModuleType
from typing import Any

import pytest

import sfidl.runtime as sf
from tests.protocol import Driver, Envelope, forward
from tests.runtime.wire import CLIENT, VAULT

USER = (CLIENT, "u1")


@pytest.fixture
def pb(calls_out: Any) -> ModuleType:
    import calls_pb2

    return calls_pb2


@pytest.fixture
def gen(calls_out: Any) -> ModuleType:
    import calls_sfidl

    return calls_sfidl


def publishing(impls: ModuleType, act: Callable[[Any], None]) -> Any:
    """A Client whose `publish` (declared: `emits log`) runs ``act(ctx)`` instead."""

    class Reaching(impls.Client):  # type: ignore[misc,name-defined]
        def publish(self, ctx: Any, message: Any) -> None:
            act(ctx)

    return Reaching()


def effects(pb: ModuleType, gen: ModuleType) -> dict[str, tuple[Callable[[Any], None], str]]:
    """Per effect kind: what `Client.publish` does, and the refusal's message."""
    return {
        "sends": (
            lambda ctx: gen.ClientPokeFunctions(ctx._invocation).other("o").note(pb.Note()),
            "test.calls/client.publish did not declare `sends test.calls/other.note`",
        ),
        "calls": (
            lambda ctx: gen.ClientAskFunctions(ctx._invocation)
            .store("a")
            .get(pb.Ask(), carry=pb.Note()),
            "test.calls/client.publish did not declare `calls ... -> got`",
        ),
        "joins": (
            lambda ctx: gen.ClientBothJoins(ctx._invocation).joined(
                ("a", pb.Ask()), ("a", pb.Ask())
            ),
            "test.calls/client.publish did not declare `calls ... -> joined`",
        ),
        "timers": (
            lambda ctx: gen.ClientArmTimers(ctx._invocation).tick.after(
                timedelta(seconds=1), pb.Tick()
            ),
            "test.calls/client.publish did not declare `sets tick`",
        ),
        "timer cancel": (
            lambda ctx: gen.ClientArmTimers(ctx._invocation).tick.cancel(
                sf.TimerId("sfidl.timer.0")
            ),
            "test.calls/client.publish did not declare `sets tick`",
        ),
        "part": (
            lambda ctx: ctx.timers,
            "test.calls/client.publish declared no `sets`: it has no ctx.timers",
        ),
        "functions": (
            lambda ctx: ctx.functions,
            "test.calls/client.publish declared no `calls` or `sends`: it has no ctx.functions",
        ),
        "joins part": (
            lambda ctx: ctx.joins,
            "test.calls/client.publish declared no joined `calls (...)`: it has no ctx.joins",
        ),
        "replies": (
            lambda ctx: ctx.replies,
            "test.calls/client.publish declared no `completes`: it has no ctx.replies",
        ),
        "defer": (
            lambda ctx: ctx._defer(),
            "test.calls/client.publish cannot defer: only a request/reply handler answers a caller",
        ),
    }


KINDS = ["sends", "calls", "joins", "timers", "timer cancel", "part", "functions", "joins part"]
KINDS += ["replies", "defer"]


@pytest.mark.parametrize("kind", KINDS)
def test_an_undeclared_effect_fails_naming_member_and_effect(
    impls: ModuleType, pb: ModuleType, gen: ModuleType, kind: str
) -> None:
    act, message = effects(pb, gen)[kind]
    driver = Driver(impls.app(client=publishing(impls, act)))
    with pytest.raises(sf.UndeclaredEffect) as refused:
        driver.invoke(CLIENT, "u1", pb.Publish(text="x", key="k"))
    assert str(refused.value) == message
    assert (CLIENT, "u1") not in driver.state  # the invocation failed: nothing applied


def test_the_declared_effect_is_allowed(impls: ModuleType, pb: ModuleType) -> None:
    driver = Driver(impls.app())
    result = driver.invoke(CLIENT, "u1", pb.Publish(text="x", key="k"))
    assert len(result.outgoing_egresses) == 1


def test_an_undeclared_egress_fails(impls: ModuleType, pb: ModuleType, gen: ModuleType) -> None:
    class Arming(impls.Client):  # type: ignore[misc,name-defined]
        def arm(self, ctx: Any, message: Any) -> None:
            gen.ClientPublishEgress(ctx._invocation).log.write(pb.Note())

    driver = Driver(impls.app(client=Arming()))
    with pytest.raises(sf.UndeclaredEffect) as refused:
        driver.invoke(CLIENT, "u1", pb.Arm(label="x"))
    assert str(refused.value) == "test.calls/client.arm did not declare `emits test.calls/log`"


def test_an_undeclared_completion_fails(impls: ModuleType, pb: ModuleType, gen: ModuleType) -> None:
    class Checking(impls.Vault):  # type: ignore[misc,name-defined]
        def check(self, ctx: Any, request: Any) -> Any:
            gen.VaultUnlockReplies(ctx._invocation).open.reply(sf.ReplyId("0"), pb.Answer())
            return pb.Answer()

    driver = Driver(impls.app(vault=Checking()))
    call = pb.VaultCheckCall(correlation_id="0.0", request=pb.Ask(key="k"))
    with pytest.raises(sf.UndeclaredEffect) as refused:
        driver.invoke(VAULT, "v", call, caller=USER)
    assert str(refused.value) == "test.calls/vault.check did not declare `completes open`"


def test_a_timer_method_has_only_the_timers_effects(impls: ModuleType, pb: ModuleType) -> None:
    """Client's `tick` timer declares nothing: the context every method gets, no more."""

    class Ticking(impls.Client):  # type: ignore[misc,name-defined]
        def tick(self, ctx: Any, message: Any) -> None:
            ctx.egress.log.write(pb.Note())

    driver = Driver(impls.app(client=Ticking()))
    armed = driver.invoke(CLIENT, "u1", pb.Arm(label="t", delay_ms=5))
    (timer,) = armed.delayed_invocations
    with pytest.raises(sf.UndeclaredEffect, match=r"^test.calls/client.tick declared no `emits`"):
        driver.invoke(CLIENT, "u1", _delivered(timer))


def test_a_continuation_has_the_effects_of_the_member_that_called(
    impls: ModuleType, pb: ModuleType
) -> None:
    """`got` continues `ask` (which calls Store.get -> got): it may call again, not emit."""

    class Continuing(impls.Client):  # type: ignore[misc,name-defined]
        def got(self, ctx: Any, outcome: Any, request: Any, carried: Any) -> None:
            ctx.functions.store("b").get(pb.Ask(key="b"), carry=carried)  # allowed
            ctx.egress.log.write(pb.Note())

    driver = Driver(impls.app(client=Continuing()))
    call = driver.invoke(CLIENT, "u1", pb.Start(key="a"))
    answered = driver.invoke("test.calls/store", "a", forward(call, sender=USER))
    with pytest.raises(sf.UndeclaredEffect, match=r"^test.calls/client.got declared no `emits`"):
        driver.invoke(CLIENT, "u1", forward(answered, sender=("test.calls/store", "a")))


def test_other_missing_attributes_stay_attribute_errors(impls: ModuleType, pb: ModuleType) -> None:
    seen: list[bool] = []
    driver = Driver(
        impls.app(client=publishing(impls, lambda ctx: seen.append(hasattr(ctx, "nothing"))))
    )
    driver.invoke(CLIENT, "u1", pb.Publish(text="x", key="k"))
    assert seen == [False]


def _delivered(timer: Any) -> Envelope:
    """A delayed self-message as the runtime delivers it once due."""
    target = timer.target
    return Envelope(timer.argument, (f"{target.namespace}/{target.type}", target.id))
