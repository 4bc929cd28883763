"""Implementations of the test program's functions; each records what its continuations got.

Imported only once the session fixture put the compiled ``calls_sfidl`` on sys.path.
Store answers by key: a key in ``VALUES`` gets its value, ``boom`` raises a bug,
``forbidden`` raises an error Store.get did not declare (``forbidden-returned`` returns
it), ``wrong`` returns the wrong type, ``missing`` returns the declared NotFound, anything
else raises it.

Vault.open defers its reply (the key ``now`` is answered at once, ``ring`` also sets the
ring timer); the test completes it through ``unlock`` or the timer. Relay.relay defers
and answers from the continuation of its own call to Store.get. Desk records the order
in which it handled what it got.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sfidl.runtime as sf

import calls_pb2 as pb
import calls_sfidl as gen
from calls_sfidl import TimerId

VALUES = {"a": 1, "b": 2, "c": 3, "d": 4}

# The keyword arguments a call is made with, when a test sets them.
CallOptions = dict[str, Any]


class Store(gen.Store):
    def get(self, ctx: gen.StoreContext, request: pb.Ask) -> pb.Answer | gen.NotFoundError:
        ctx.state.hits += 1
        if request.key == "boom":
            raise RuntimeError("a bug in Store.get")
        if request.key == "forbidden":
            raise gen.ForbiddenError(pb.Forbidden(why="not declared by Store.get"))
        if request.key == "forbidden-returned":
            return gen.ForbiddenError(pb.Forbidden(why="not declared by Store.get"))  # type: ignore[return-value]
        if request.key == "wrong":
            return pb.Peeked(text="not an Answer")  # type: ignore[return-value]
        if request.key == "missing":
            return gen.NotFoundError(pb.NotFound(key=request.key, tried=ctx.state.hits))
        if request.key not in VALUES:
            raise gen.NotFoundError(pb.NotFound(key=request.key, tried=ctx.state.hits))
        return pb.Answer(key=request.key, value=VALUES[request.key])


class Other(gen.Other):
    def peek(self, ctx: gen.OtherContext, request: pb.Ask) -> pb.Peeked:
        return pb.Peeked(text=f"peeked {request.key}")

    def size(self, ctx: gen.OtherContext, request: pb.Ask) -> pb.Answer:
        return pb.Answer(key=request.key, value=len(request.key))

    def note(self, ctx: gen.OtherContext, message: pb.Note) -> None:
        pass


class Client(gen.Client):
    def __init__(self, options: CallOptions | None = None) -> None:
        self.options = options or {}
        self.seen: list[tuple[str, Any, Any, Any]] = []
        self.calls: list[gen.CallId] = []

    def ask(self, ctx: gen.ClientAskContext, message: pb.Start) -> None:
        call = ctx.functions.store(message.key).get(
            pb.Ask(key=message.key), carry=pb.Note(text=f"for {message.key}"), **self.options
        )
        self.calls.append(call)

    def both(self, ctx: gen.ClientBothContext, message: pb.Pair) -> None:
        key = message.key
        self.calls.append(
            ctx.joins.joined((key, pb.Ask(key=key)), (key, pb.Ask(key=f"{key}?")), **self.options)
        )

    def loop(self, ctx: gen.ClientLoopContext, message: pb.Loop) -> None:
        self.calls.append(ctx.functions.client(ctx.id).echo(pb.Ask(key=message.key)))

    def measure(self, ctx: gen.ClientMeasureContext, message: pb.Measure) -> None:
        self.calls.append(ctx.functions.other(message.key).size(pb.Ask(key=message.key)))

    def arm(self, ctx: gen.ClientArmContext, message: pb.Arm) -> None:
        if message.cancel:
            ctx.timers.tick.cancel(TimerId(ctx.state.timer))
            del ctx.state.timer
        else:
            delay = timedelta(milliseconds=message.delay_ms)
            ctx.state.timer = ctx.timers.tick.after(delay, pb.Tick(label=message.label))

    def publish(self, ctx: gen.ClientPublishContext, message: pb.Publish) -> None:
        note = pb.Note(text=message.text)
        if message.default_key:
            ctx.egress.log.write(note)
        else:
            ctx.egress.log.write(note, key=message.key)

    def poke(self, ctx: gen.ClientPokeContext, message: pb.Note) -> None:
        ctx.functions.other(message.text).note(message)

    def chain(self, ctx: gen.ClientChainContext, message: pb.Chain) -> None:
        self.calls.append(ctx.functions.relay(message.key).relay(pb.Ask(key=message.key)))

    def open(self, ctx: gen.ClientOpenContext, message: pb.Open) -> None:
        self.calls.append(
            ctx.functions.vault(message.vault).open(pb.Ask(key=message.key), **self.options)
        )

    def echo(self, ctx: gen.ClientContext, request: pb.Ask) -> pb.Answer:
        return pb.Answer(key=request.key, value=len(request.key))

    def tick(self, ctx: gen.ClientContext, message: pb.Tick) -> None:
        self.seen.append(("tick", message, None, None))

    def got(
        self,
        ctx: gen.ClientAskContext,
        outcome: gen.StoreGetOutcome,
        request: pb.Ask,
        carried: pb.Note,
    ) -> None:
        self.seen.append(("got", outcome, request, carried))

    def joined(
        self,
        ctx: gen.ClientBothContext,
        outcomes: tuple[gen.StoreGetOutcome, gen.OtherPeekOutcome],
        requests: tuple[pb.Ask, pb.Ask],
    ) -> None:
        self.seen.append(("joined", outcomes, requests, None))

    def sized(
        self, ctx: gen.ClientMeasureContext, outcome: gen.OtherSizeOutcome, request: pb.Ask
    ) -> None:
        self.seen.append(("sized", outcome, request, None))

    def echoed(
        self, ctx: gen.ClientLoopContext, outcome: gen.ClientEchoOutcome, request: pb.Ask
    ) -> None:
        self.seen.append(("echoed", outcome, request, None))

    def chained(
        self, ctx: gen.ClientChainContext, outcome: gen.RelayRelayOutcome, request: pb.Ask
    ) -> None:
        self.seen.append(("chained", outcome, request, None))

    def opened(
        self, ctx: gen.ClientOpenContext, outcome: gen.VaultOpenOutcome, request: pb.Ask
    ) -> None:
        self.seen.append(("opened", outcome, request, None))


class Vault(gen.Vault):
    def __init__(self) -> None:
        # What open saw (call id, deadline) and what each completion returned.
        self.opened: list[tuple[sf.ReplyId | None, str | None, Any]] = []
        self.completed: list[bool] = []

    def open(
        self, ctx: gen.VaultOpenContext, request: pb.Ask
    ) -> pb.Answer | gen.NotFoundError | sf.Deferred:
        if request.key == "now":
            self.opened.append((None, ctx.call_id, ctx.deadline))
            return pb.Answer(key="now", value=0)
        deferred = ctx.defer()
        assert ctx.defer() == deferred  # once per call
        self.opened.append((deferred.id, ctx.call_id, ctx.deadline))
        if request.key == "ring":
            ctx.timers.ring.after(timedelta(seconds=1), pb.Unlock(reply_id=deferred.id, value=7))
        return deferred

    def check(self, ctx: gen.VaultContext, request: pb.Ask) -> pb.Answer:
        return pb.Answer(key=request.key)

    def unlock(self, ctx: gen.VaultUnlockContext, message: pb.Unlock) -> None:
        self.completed.append(_complete(ctx.replies.open, message))

    def ring(self, ctx: gen.VaultRingContext, message: pb.Unlock) -> None:
        self.completed.append(_complete(ctx.replies.open, message))


def _complete(replies: sf.PendingReplies[pb.Answer, gen.NotFoundError], message: pb.Unlock) -> bool:
    reply_id = sf.ReplyId(message.reply_id)
    if message.fail:
        return replies.fail(reply_id, gen.NotFoundError(pb.NotFound(key=reply_id, tried=-1)))
    return replies.reply(reply_id, pb.Answer(key=reply_id, value=message.value))


class Relay(gen.Relay):
    """Answers Relay.relay with Store.get's outcome, or NotFound(tried=-1) when Store is silent."""

    def relay(
        self, ctx: gen.RelayRelayContext, request: pb.Ask
    ) -> pb.Answer | gen.NotFoundError | sf.Deferred:
        deferred = ctx.defer()
        ctx.functions.store(request.key).get(request, carry=pb.Note(text=deferred.id))
        return deferred

    def got(
        self,
        ctx: gen.RelayGotContext,
        outcome: gen.StoreGetOutcome,
        request: pb.Ask,
        carried: pb.Note,
    ) -> None:
        reply_id = sf.ReplyId(carried.text)
        match outcome:
            case pb.Answer():
                ctx.replies.relay.reply(
                    reply_id, pb.Answer(key=outcome.key, value=outcome.value * 10)
                )
            case gen.NotFoundError():
                ctx.replies.relay.fail(reply_id, outcome)
            case sf.Timeout():
                ctx.replies.relay.fail(
                    reply_id, gen.NotFoundError(pb.NotFound(key=request.key, tried=-1))
                )


class Desk(gen.Desk):
    def __init__(self) -> None:
        self.handled: list[str] = []  # "<member> <key or text>", in the order handled
        self.waiting: list[sf.ReplyId] = []

    def work(self, ctx: gen.DeskWorkContext, message: pb.Start) -> None:
        self.handled.append(f"work {message.key}")
        ctx.functions.store(message.key).get(pb.Ask(key=message.key))

    def note(self, ctx: gen.DeskContext, message: pb.Note) -> None:
        self.handled.append(f"note {message.text} from {ctx.caller}")

    def echo(self, ctx: gen.DeskContext, request: pb.Ask) -> pb.Answer:
        self.handled.append(f"echo {request.key}")
        return pb.Answer(key=request.key)

    def wait(self, ctx: gen.DeskWaitContext, request: pb.Ask) -> pb.Answer | sf.Deferred:
        self.handled.append(f"wait {request.key}")
        deferred = ctx.defer()
        self.waiting.append(deferred.id)
        return deferred

    def release(self, ctx: gen.DeskReleaseContext, message: pb.Unlock) -> None:
        self.handled.append(f"release {message.reply_id}")
        ctx.replies.wait.reply(sf.ReplyId(message.reply_id), pb.Answer(value=message.value))

    def arm(self, ctx: gen.DeskArmContext, message: pb.Arm) -> None:
        self.handled.append(f"arm {message.label}")
        ctx.timers.tick.after(
            timedelta(milliseconds=message.delay_ms), pb.Tick(label=message.label)
        )

    def tick(self, ctx: gen.DeskContext, message: pb.Tick) -> None:
        self.handled.append(f"tick {message.label}")

    def worked(
        self, ctx: gen.DeskWorkContext, outcome: gen.StoreGetOutcome, request: pb.Ask
    ) -> None:
        self.handled.append(f"worked {request.key}")


class Fanner(gen.Fanner):
    def __init__(self) -> None:
        self.seen: list[tuple[gen.StoreGetOutcome, pb.Ask]] = []

    def fan(self, ctx: gen.FannerFanContext, message: pb.Fan) -> None:
        for key in message.keys:
            ctx.functions.store(key).get(pb.Ask(key=key))

    def gathered(
        self, ctx: gen.FannerFanContext, outcome: gen.StoreGetOutcome, request: pb.Ask
    ) -> None:
        self.seen.append((outcome, request))


# The tests' clock starts here (2023-11-14T22:13:20Z), in ms since the epoch.
T0 = 1_700_000_000_000


class Clock:
    """A clock the test moves by hand: ``now`` ms since the epoch."""

    def __init__(self, now: int = T0) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def app(
    *,
    store: gen.Store | None = None,
    client: Client | None = None,
    fanner: Fanner | None = None,
    vault: gen.Vault | None = None,
    relay: gen.Relay | None = None,
    desk: gen.Desk | None = None,
    clock: Clock | None = None,
) -> gen.CallsApp:
    """The application over fresh implementations (or the given ones), on a test clock."""
    application = gen.CallsApp(
        store=store or Store(),
        other=Other(),
        client=client or Client(),
        vault=vault or Vault(),
        relay=relay or Relay(),
        desk=desk or Desk(),
        fanner=fanner or Fanner(),
    )
    application.use_clock(clock or Clock())
    return application
