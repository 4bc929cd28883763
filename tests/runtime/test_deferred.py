"""Deferred replies through the SDK's RequestReplyHandler with real bytes.

Client.open calls Vault.open (timeout 3 s), which defers its reply; the test completes it
through Vault.unlock (a one-way handler), the ring timer, or lets it expire. Client.chain
calls Relay.relay (timeout 5 s), which defers and answers from the continuation of its own
call to Store.get (timeout 2 s): a three-level chain. The clock is the test's.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import pytest
from statefun.request_reply_pb2 import FromFunction

import sfidl.runtime as sf
from sfidl.runtime.internal_pb2 import PendingReply, ReplyExpired, RuntimeState
from tests.protocol import Driver, Envelope, Response, decode, forward
from tests.runtime.wire import CLIENT, RELAY, STORE, VAULT, delayed, hidden, sent

USER = (CLIENT, "u1")


@pytest.fixture
def pb(calls_out: Any) -> ModuleType:
    import calls_pb2

    return calls_pb2


@pytest.fixture
def gen(calls_out: Any) -> ModuleType:
    import calls_sfidl

    return calls_sfidl


def quiet(result: Response) -> bool:
    return result == FromFunction.InvocationResponse()


def scheduled(result: Response) -> list[FromFunction.DelayedInvocation]:
    return [d for d in delayed(result) if not d.is_cancellation_request]


def cancelled(result: Response) -> list[str]:
    return [d.cancellation_token for d in delayed(result) if d.is_cancellation_request]


def from_itself(delayed_message: FromFunction.DelayedInvocation) -> Envelope:
    """A delayed self-message, delivered as the runtime would once it is due."""
    target = delayed_message.target
    return Envelope(delayed_message.argument, (f"{target.namespace}/{target.type}", target.id))


def open_vault(driver: Driver, pb: ModuleType, key: str = "k") -> tuple[Response, Response]:
    """Client u1 calls Vault.open on the vault v; the vault defers. Both responses."""
    call = driver.invoke(CLIENT, "u1", pb.Open(vault="v", key=key))
    deferred = driver.invoke(VAULT, "v", forward(call, sender=USER))
    return call, deferred


def unlock(driver: Driver, pb: ModuleType, reply_id: str, **fields: Any) -> Response:
    return driver.invoke(VAULT, "v", pb.Unlock(reply_id=reply_id, **fields))


# -- in time ----------------------------------------------------------------------------


def test_a_deferred_reply_is_recorded_and_sends_nothing_yet(
    impls: ModuleType, pb: ModuleType
) -> None:
    vault = impls.Vault()
    driver = Driver(impls.app(vault=vault))
    call, deferred = open_vault(driver, pb)

    assert sent(call, pb.VaultOpenCall)[2].deadline_millis == impls.T0 + 3000
    assert not deferred.outgoing_messages
    # The callee saw the call's key and its caller's deadline.
    assert vault.opened == [
        ("0", "0.0@test.calls/client/u1", datetime.fromtimestamp((impls.T0 + 3000) / 1000, UTC))
    ]
    assert hidden(driver, VAULT, "v").replies["0"] == PendingReply(
        caller_typename=CLIENT,
        caller_id="u1",
        correlation_id="0.0",
        handler="open",
        deadline_millis=impls.T0 + 3000,
        cleanup_token="sfidl.reply.0",
    )
    # Forgotten at the caller's deadline, by a delayed message to itself.
    (cleanup,) = scheduled(deferred)
    assert cleanup.delay_in_ms == 3000 and cleanup.cancellation_token == "sfidl.reply.0"
    assert (cleanup.target.type, cleanup.target.id) == ("vault", "v")
    assert decode(cleanup.argument, ReplyExpired) == ReplyExpired(reply="0")


def test_completed_by_a_one_way_handler_the_caller_gets_the_reply(
    impls: ModuleType, pb: ModuleType
) -> None:
    client, vault = impls.Client(), impls.Vault()
    driver = Driver(impls.app(client=client, vault=vault))
    _, deferred = open_vault(driver, pb)

    done = unlock(driver, pb, "0", value=5)
    assert vault.completed == [True]
    assert sent(done, pb.VaultOpenReply) == (
        CLIENT,
        "u1",
        pb.VaultOpenReply(correlation_id="0.0", reply=pb.Answer(key="0", value=5)),
    )
    assert cancelled(done) == ["sfidl.reply.0"]
    assert hidden(driver, VAULT, "v") == RuntimeState(next_id=1)

    driver.invoke(CLIENT, "u1", forward(done, sender=(VAULT, "v")))
    assert client.seen == [("opened", pb.Answer(key="0", value=5), pb.Ask(key="k"), None)]


def test_completed_with_a_declared_error(
    impls: ModuleType, pb: ModuleType, gen: ModuleType
) -> None:
    client = impls.Client()
    driver = Driver(impls.app(client=client))
    open_vault(driver, pb)
    done = unlock(driver, pb, "0", fail=True)
    _, _, reply = sent(done, pb.VaultOpenReply)
    assert reply.not_found == pb.NotFound(key="0", tried=-1)
    driver.invoke(CLIENT, "u1", forward(done, sender=(VAULT, "v")))
    assert client.seen[0][1] == gen.NotFoundError(pb.NotFound(key="0", tried=-1))


def test_completed_by_a_timer(impls: ModuleType, pb: ModuleType) -> None:
    vault = impls.Vault()
    driver = Driver(impls.app(vault=vault))
    _, deferred = open_vault(driver, pb, key="ring")
    ring = next(d for d in scheduled(deferred) if d.cancellation_token.startswith("sfidl.timer."))
    assert ring.delay_in_ms == 1000

    done = driver.invoke(VAULT, "v", from_itself(ring))
    assert vault.completed == [True]
    assert sent(done, pb.VaultOpenReply)[2] == pb.VaultOpenReply(
        correlation_id="0.0", reply=pb.Answer(key="0", value=7)
    )
    assert hidden(driver, VAULT, "v").replies == {}


def test_a_restart_between_the_call_and_its_completion_loses_nothing(
    impls: ModuleType, pb: ModuleType
) -> None:
    driver = Driver(impls.app())
    open_vault(driver, pb)
    driver.app = impls.app(vault=(vault := impls.Vault()))  # fresh process, the state kept
    done = unlock(driver, pb, "0", value=9)
    assert vault.completed == [True]
    assert sent(done, pb.VaultOpenReply)[:2] == USER


def test_answered_at_once_by_a_deferring_rpc(impls: ModuleType, pb: ModuleType) -> None:
    vault = impls.Vault()
    driver = Driver(impls.app(vault=vault))
    _, answered = open_vault(driver, pb, key="now")
    assert sent(answered, pb.VaultOpenReply)[2].reply == pb.Answer(key="now", value=0)
    assert not delayed(answered) and hidden(driver, VAULT, "v") == RuntimeState()


def test_deferred_then_answered_at_once_after_all_leaves_nothing_pending(
    impls: ModuleType, pb: ModuleType
) -> None:
    class Changes(impls.Vault):  # type: ignore[misc,name-defined]
        def open(self, ctx: Any, request: Any) -> Any:
            ctx.defer()
            return pb.Answer(key="changed")

    driver = Driver(impls.app(vault=Changes()))
    _, answered = open_vault(driver, pb)
    assert sent(answered, pb.VaultOpenReply)[2].reply == pb.Answer(key="changed")
    assert not delayed(answered) and hidden(driver, VAULT, "v").replies == {}


def test_without_a_caller_deadline_the_reply_waits_forever(
    impls: ModuleType, pb: ModuleType
) -> None:
    vault = impls.Vault()
    driver = Driver(impls.app(client=impls.Client({"timeout": None}), vault=vault))
    call, deferred = open_vault(driver, pb)
    assert sent(call, pb.VaultOpenCall)[2].deadline_millis == 0
    assert not delayed(deferred)  # nothing to clean up: the caller waits too
    assert vault.opened[0][2] is None  # ctx.deadline
    assert hidden(driver, VAULT, "v").replies["0"].cleanup_token == ""
    done = unlock(driver, pb, "0")
    assert not delayed(done) and sent(done, pb.VaultOpenReply)[:2] == USER


# -- late, twice, never, unknown ------------------------------------------------------


def test_completing_twice_sends_one_reply(
    impls: ModuleType, pb: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    vault = impls.Vault()
    driver = Driver(impls.app(vault=vault))
    open_vault(driver, pb)
    unlock(driver, pb, "0")
    with caplog.at_level(logging.WARNING, logger="sfidl.runtime"):
        again = unlock(driver, pb, "0")
        # And twice within one invocation (a batch of two).
        open_vault(driver, pb)
        batch = driver.invoke(VAULT, "v", pb.Unlock(reply_id="1"), pb.Unlock(reply_id="1"))
    assert quiet(again)
    assert len(batch.outgoing_messages) == 1
    assert vault.completed == [True, False, True, False]
    assert caplog.text.count("no deferred reply '0' of open is pending") == 1
    assert caplog.text.count("no deferred reply '1' of open is pending") == 1


@pytest.mark.parametrize("reply_id", ["7", "", "sfidl.reply.0", "0.0"])
def test_completing_an_unknown_id_sends_nothing(
    impls: ModuleType, pb: ModuleType, caplog: pytest.LogCaptureFixture, reply_id: str
) -> None:
    vault = impls.Vault()
    driver = Driver(impls.app(vault=vault))
    open_vault(driver, pb)
    with caplog.at_level(logging.WARNING, logger="sfidl.runtime"):
        assert quiet(unlock(driver, pb, reply_id))
    assert vault.completed == [False]
    assert f"no deferred reply {reply_id!r} of open is pending" in caplog.text
    assert "0" in hidden(driver, VAULT, "v").replies  # the real one is untouched


def test_a_handle_completes_only_the_rpc_it_belongs_to(
    impls: ModuleType, pb: ModuleType, gen: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    """The id of a deferred `open`, completed as a `check`: refused, `open` still pending."""
    spec = gen.Vault.sfidl_spec
    unlock_spec = next(h for h in spec.handlers if h.name == "unlock")
    widened = dataclasses.replace(
        unlock_spec, effects=sf.Effects(completes=frozenset({"open", "check"}))
    )
    handlers = tuple(widened if h.name == "unlock" else h for h in spec.handlers)

    class Confused(impls.Vault):  # type: ignore[misc,name-defined]
        sfidl_spec = dataclasses.replace(spec, handlers=handlers)

        def unlock(self, ctx: Any, message: Any) -> None:
            replies = sf.PendingReplies(ctx._invocation, gen.RPC_VAULT_CHECK)
            self.completed.append(replies.reply(sf.ReplyId(message.reply_id), pb.Answer()))

    driver = Driver(impls.app(vault=(vault := Confused())))
    open_vault(driver, pb)
    with caplog.at_level(logging.WARNING, logger="sfidl.runtime"):
        assert quiet(unlock(driver, pb, "0"))
    assert vault.completed == [False]
    assert "no deferred reply '0' of check is pending" in caplog.text
    assert hidden(driver, VAULT, "v").replies["0"].handler == "open"


def test_never_completed_it_is_forgotten_at_the_callers_deadline(
    impls: ModuleType, pb: ModuleType, gen: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    client, vault = impls.Client(), impls.Vault()
    clock = impls.Clock()
    driver = Driver(impls.app(client=client, vault=vault, clock=clock))
    call, deferred = open_vault(driver, pb)
    clock.now += 3000

    # The caller's timeout and the callee's cleanup are both due: either order works.
    (timeout,) = scheduled(call)
    driver.invoke(CLIENT, "u1", from_itself(timeout))
    assert client.seen == [
        ("opened", sf.Timeout(after=timedelta(seconds=3)), pb.Ask(key="k"), None)
    ]
    (cleanup,) = scheduled(deferred)
    with caplog.at_level(logging.WARNING, logger="sfidl.runtime"):
        forgotten = driver.invoke(VAULT, "v", from_itself(cleanup))
    assert not forgotten.outgoing_messages and not delayed(forgotten)
    assert hidden(driver, VAULT, "v") == RuntimeState(next_id=1)  # no unbounded hidden state
    assert (
        "forgot the deferred reply 0 of open to test.calls/client/u1: never completed"
        in caplog.text
    )

    # A completion after that is refused like an unknown id.
    assert quiet(unlock(driver, pb, "0"))
    assert vault.completed == [False]


def test_completed_after_the_deadline_before_its_cleanup_arrived_sends_nothing(
    impls: ModuleType, pb: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    clock = impls.Clock()
    vault = impls.Vault()
    driver = Driver(impls.app(vault=vault, clock=clock))
    _, deferred = open_vault(driver, pb)
    clock.now += 3000
    with caplog.at_level(logging.WARNING, logger="sfidl.runtime"):
        late = unlock(driver, pb, "0")
    assert not late.outgoing_messages
    assert cancelled(late) == ["sfidl.reply.0"]
    assert vault.completed == [False]
    assert "came after its caller's deadline" in caplog.text
    assert hidden(driver, VAULT, "v").replies == {}
    # The cleanup, had it been sent before the cancellation, finds nothing.
    (cleanup,) = scheduled(deferred)
    assert quiet(driver.invoke(VAULT, "v", from_itself(cleanup)))


def test_a_cleanup_from_another_address_is_dead_lettered(impls: ModuleType, pb: ModuleType) -> None:
    driver = Driver(impls.app())
    _, deferred = open_vault(driver, pb)
    (cleanup,) = scheduled(deferred)
    forged = driver.invoke(VAULT, "v", Envelope(cleanup.argument, USER))
    assert len(forged.outgoing_egresses) == 1 and not forged.state_mutations
    assert "0" in hidden(driver, VAULT, "v").replies


# -- what may defer ---------------------------------------------------------------------


def test_an_rpc_no_member_completes_cannot_defer(impls: ModuleType, pb: ModuleType) -> None:
    class Defers(impls.Vault):  # type: ignore[misc,name-defined]
        def check(self, ctx: Any, request: Any) -> Any:
            return ctx._defer()

    driver = Driver(impls.app(vault=Defers()))
    call = pb.VaultCheckCall(correlation_id="0.0", request=pb.Ask(key="k"))
    with pytest.raises(sf.UndeclaredEffect) as refused:
        driver.invoke(VAULT, "v", call, caller=USER)
    assert str(refused.value) == (
        "test.calls/vault.check cannot defer its reply: no member of test.calls/vault "
        "declares `completes check`"
    )


def test_a_one_way_handler_cannot_defer(impls: ModuleType, pb: ModuleType) -> None:
    class Defers(impls.Vault):  # type: ignore[misc,name-defined]
        def unlock(self, ctx: Any, message: Any) -> None:
            ctx._defer()

    driver = Driver(impls.app(vault=Defers()))
    with pytest.raises(sf.UndeclaredEffect, match=r"^test.calls/vault.unlock cannot defer: "):
        unlock(driver, pb, "0")


def test_returning_a_deferred_not_made_by_this_call_fails(
    impls: ModuleType, pb: ModuleType
) -> None:
    class Forges(impls.Vault):  # type: ignore[misc,name-defined]
        def open(self, ctx: Any, request: Any) -> Any:
            return sf.Deferred(sf.ReplyId("0"))

    driver = Driver(impls.app(vault=Forges()))
    with pytest.raises(TypeError, match="a Deferred it did not get from this call's ctx.defer"):
        open_vault(driver, pb)


def test_completing_with_the_wrong_type_or_an_undeclared_error_fails(
    impls: ModuleType, pb: ModuleType, gen: ModuleType
) -> None:
    class Wrong(impls.Vault):  # type: ignore[misc,name-defined]
        def unlock(self, ctx: Any, message: Any) -> None:
            if message.fail:
                ctx.replies.open.fail(message.reply_id, gen.ForbiddenError(pb.Forbidden(why="x")))
            else:
                ctx.replies.open.reply(message.reply_id, pb.Peeked())

    driver = Driver(impls.app(vault=Wrong()))
    open_vault(driver, pb)
    with pytest.raises(TypeError, match="open must return a test.calls.Answer, not Peeked"):
        unlock(driver, pb, "0")
    with pytest.raises(sf.UndeclaredEffect) as refused:
        unlock(driver, pb, "0", fail=True)
    assert str(refused.value) == (
        'test.calls/vault.unlock failed with ForbiddenError (Forbidden(why: "x")), an error '
        "open does not declare: it declares NotFoundError"
    )
    assert "0" in hidden(driver, VAULT, "v").replies


# -- time -------------------------------------------------------------------------------


def test_handlers_read_the_deployments_clock(impls: ModuleType, pb: ModuleType) -> None:
    class Clocked(impls.Vault):  # type: ignore[misc,name-defined]
        def unlock(self, ctx: Any, message: Any) -> None:
            self.completed.append(ctx.now)
            self.completed.append((ctx.call_id, ctx.deadline))

    clock = impls.Clock()
    driver = Driver(impls.app(vault=(vault := Clocked()), clock=clock))
    clock.now += 1500
    unlock(driver, pb, "0")
    assert vault.completed == [
        datetime.fromtimestamp((impls.T0 + 1500) / 1000, UTC),
        (None, None),  # not answering a call
    ]


def test_the_wall_clock_by_default(impls: ModuleType, pb: ModuleType, gen: ModuleType) -> None:
    app = gen.CallsApp(
        store=impls.Store(),
        other=impls.Other(),
        client=impls.Client(),
        vault=impls.Vault(),
        relay=impls.Relay(),
        desk=impls.Desk(),
        fanner=impls.Fanner(),
    )
    before = datetime.now(UTC)
    call = Driver(app).invoke(CLIENT, "u1", pb.Open(vault="v", key="k"))
    deadline = datetime.fromtimestamp(sent(call, pb.VaultOpenCall)[2].deadline_millis / 1000, UTC)
    assert before + timedelta(seconds=3) - timedelta(milliseconds=1) <= deadline
    assert deadline <= datetime.now(UTC) + timedelta(seconds=3)


# -- a chain: Client -> Relay -> Store ------------------------------------------------------


def start_chain(driver: Driver, pb: ModuleType, key: str) -> tuple[Response, Response]:
    """Client u1 calls Relay.relay; Relay defers and calls Store.get. Both responses."""
    call = driver.invoke(CLIENT, "u1", pb.Chain(key=key))
    relayed = driver.invoke(RELAY, key, forward(call, sender=USER))
    return call, relayed


def test_a_chain_answers_from_the_middles_continuation(impls: ModuleType, pb: ModuleType) -> None:
    client = impls.Client()
    driver = Driver(impls.app(client=client))
    call, relayed = start_chain(driver, pb, "a")
    assert sent(call, pb.RelayRelayCall)[2].deadline_millis == impls.T0 + 5000
    # Relay deferred (reply 0) and called Store with its own, shorter deadline (group 1).
    assert sent(relayed, pb.StoreGetCall) == (
        STORE,
        "a",
        pb.StoreGetCall(
            correlation_id="1.0", request=pb.Ask(key="a"), deadline_millis=impls.T0 + 2000
        ),
    )
    runtime = hidden(driver, RELAY, "a")
    assert list(runtime.replies) == ["0"] and list(runtime.pending) == ["1"]

    answered = driver.invoke(STORE, "a", forward(relayed, sender=(RELAY, "a")))
    completed = driver.invoke(RELAY, "a", forward(answered, sender=(STORE, "a")))
    assert sent(completed, pb.RelayRelayReply) == (
        CLIENT,
        "u1",
        pb.RelayRelayReply(correlation_id="0.0", reply=pb.Answer(key="a", value=10)),
    )
    assert sorted(cancelled(completed)) == ["sfidl.reply.0", "sfidl.timeout.1"]
    assert hidden(driver, RELAY, "a") == RuntimeState(next_id=2)

    driver.invoke(CLIENT, "u1", forward(completed, sender=(RELAY, "a")))
    assert client.seen == [("chained", pb.Answer(key="a", value=10), pb.Ask(key="a"), None)]


def test_a_chain_passes_a_declared_error_up(
    impls: ModuleType, pb: ModuleType, gen: ModuleType
) -> None:
    client = impls.Client()
    driver = Driver(impls.app(client=client))
    _, relayed = start_chain(driver, pb, "zz")
    answered = driver.invoke(STORE, "zz", forward(relayed, sender=(RELAY, "zz")))
    completed = driver.invoke(RELAY, "zz", forward(answered, sender=(STORE, "zz")))
    driver.invoke(CLIENT, "u1", forward(completed, sender=(RELAY, "zz")))
    assert client.seen[0][1] == gen.NotFoundError(pb.NotFound(key="zz", tried=1))


def test_a_chain_whose_last_callee_is_silent_answers_with_the_middles_timeout_branch(
    impls: ModuleType, pb: ModuleType, gen: ModuleType
) -> None:
    client = impls.Client()
    clock = impls.Clock()
    driver = Driver(impls.app(client=client, clock=clock))
    _, relayed = start_chain(driver, pb, "a")
    clock.now += 2000
    store_timeout = next(d for d in scheduled(relayed) if d.cancellation_token == "sfidl.timeout.1")
    completed = driver.invoke(RELAY, "a", from_itself(store_timeout))
    assert sent(completed, pb.RelayRelayReply)[2].not_found == pb.NotFound(key="a", tried=-1)
    driver.invoke(CLIENT, "u1", forward(completed, sender=(RELAY, "a")))
    assert client.seen[0][1] == gen.NotFoundError(pb.NotFound(key="a", tried=-1))


def test_a_chain_that_outlives_the_first_callers_timeout(
    impls: ModuleType, pb: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    """The head times out; the middle's answer after that deadline is never sent."""
    client = impls.Client()
    clock = impls.Clock()
    driver = Driver(impls.app(client=client, clock=clock))
    call, relayed = start_chain(driver, pb, "a")
    answered = driver.invoke(STORE, "a", forward(relayed, sender=(RELAY, "a")))

    clock.now += 5000
    (timeout,) = scheduled(call)
    driver.invoke(CLIENT, "u1", from_itself(timeout))
    assert client.seen == [
        ("chained", sf.Timeout(after=timedelta(seconds=5)), pb.Ask(key="a"), None)
    ]

    with caplog.at_level(logging.WARNING, logger="sfidl.runtime"):
        late = driver.invoke(RELAY, "a", forward(answered, sender=(STORE, "a")))
    assert not late.outgoing_messages
    assert "came after its caller's deadline" in caplog.text
    assert hidden(driver, RELAY, "a") == RuntimeState(next_id=2)


def test_async_methods_defer_and_complete_alike(impls: ModuleType, pb: ModuleType) -> None:
    class Async(impls.Vault):  # type: ignore[misc,name-defined]
        async def open(self, ctx: Any, request: Any) -> Any:
            return ctx.defer()

        async def unlock(self, ctx: Any, message: Any) -> None:
            self.completed.append(
                ctx.replies.open.reply(sf.ReplyId(message.reply_id), pb.Answer(value=1))
            )

    driver = Driver(impls.app(vault=(vault := Async())))
    _, deferred = open_vault(driver, pb)
    assert not deferred.outgoing_messages and "0" in hidden(driver, VAULT, "v").replies
    done = unlock(driver, pb, "0")
    assert vault.completed == [True] and sent(done, pb.VaultOpenReply)[:2] == USER
