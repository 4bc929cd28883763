"""Implementations of the test program's functions; each records what its continuations got.

Imported only once the session fixture put the compiled ``calls_sfidl`` on sys.path.
Store answers by key: a key in ``VALUES`` gets its value, ``boom`` raises a bug,
``forbidden`` raises an error Store.get did not declare, ``wrong`` returns the wrong
type, anything else raises the declared NotFound.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import calls_pb2 as pb
import calls_sfidl as gen
from calls_sfidl import TimerId

VALUES = {"a": 1, "b": 2, "c": 3, "d": 4}

# The keyword arguments a call is made with, when a test sets them.
CallOptions = dict[str, Any]


class Store(gen.Store):
    def get(self, ctx: gen.StoreContext, request: pb.Ask) -> pb.Answer:
        ctx.state.hits += 1
        if request.key == "boom":
            raise RuntimeError("a bug in Store.get")
        if request.key == "forbidden":
            raise gen.ForbiddenError(pb.Forbidden(why="not declared by Store.get"))
        if request.key == "wrong":
            return pb.Peeked(text="not an Answer")  # type: ignore[return-value]
        if request.key not in VALUES:
            raise gen.NotFoundError(pb.NotFound(key=request.key, tried=ctx.state.hits))
        return pb.Answer(key=request.key, value=VALUES[request.key])


class Other(gen.Other):
    def peek(self, ctx: gen.OtherContext, request: pb.Ask) -> pb.Peeked:
        return pb.Peeked(text=f"peeked {request.key}")

    def size(self, ctx: gen.OtherContext, request: pb.Ask) -> pb.Answer:
        return pb.Answer(key=request.key, value=len(request.key))


class Client(gen.Client):
    def __init__(self, options: CallOptions | None = None) -> None:
        self.options = options or {}
        self.seen: list[tuple[str, Any, Any, Any]] = []
        self.calls: list[gen.CallId] = []

    def ask(self, ctx: gen.ClientContext, message: pb.Start) -> None:
        call = ctx.functions.store(message.key).get(
            pb.Ask(key=message.key), carry=pb.Note(text=f"for {message.key}"), **self.options
        )
        self.calls.append(call)

    def both(self, ctx: gen.ClientContext, message: pb.Pair) -> None:
        key = message.key
        self.calls.append(
            ctx.joins.joined((key, pb.Ask(key=key)), (key, pb.Ask(key=f"{key}?")), **self.options)
        )

    def loop(self, ctx: gen.ClientContext, message: pb.Loop) -> None:
        self.calls.append(ctx.functions.client(ctx.id).echo(pb.Ask(key=message.key)))

    def measure(self, ctx: gen.ClientContext, message: pb.Measure) -> None:
        self.calls.append(ctx.functions.other(message.key).size(pb.Ask(key=message.key)))

    def arm(self, ctx: gen.ClientContext, message: pb.Arm) -> None:
        if message.cancel:
            ctx.timers.tick.cancel(TimerId(ctx.state.timer))
            del ctx.state.timer
        else:
            delay = timedelta(milliseconds=message.delay_ms)
            ctx.state.timer = ctx.timers.tick.after(delay, pb.Tick(label=message.label))

    def publish(self, ctx: gen.ClientContext, message: pb.Publish) -> None:
        note = pb.Note(text=message.text)
        if message.default_key:
            ctx.egress.log.write(note)
        else:
            ctx.egress.log.write(note, key=message.key)

    def echo(self, ctx: gen.ClientContext, request: pb.Ask) -> pb.Answer:
        return pb.Answer(key=request.key, value=len(request.key))

    def tick(self, ctx: gen.ClientContext, message: pb.Tick) -> None:
        self.seen.append(("tick", message, None, None))

    def got(
        self,
        ctx: gen.ClientContext,
        outcome: gen.StoreGetOutcome,
        request: pb.Ask,
        carried: pb.Note,
    ) -> None:
        self.seen.append(("got", outcome, request, carried))

    def joined(
        self,
        ctx: gen.ClientContext,
        outcomes: tuple[gen.StoreGetOutcome, gen.OtherPeekOutcome],
        requests: tuple[pb.Ask, pb.Ask],
    ) -> None:
        self.seen.append(("joined", outcomes, requests, None))

    def sized(self, ctx: gen.ClientContext, outcome: gen.OtherSizeOutcome, request: pb.Ask) -> None:
        self.seen.append(("sized", outcome, request, None))

    def echoed(
        self, ctx: gen.ClientContext, outcome: gen.ClientEchoOutcome, request: pb.Ask
    ) -> None:
        self.seen.append(("echoed", outcome, request, None))


class Fanner(gen.Fanner):
    def __init__(self) -> None:
        self.seen: list[tuple[gen.StoreGetOutcome, pb.Ask]] = []

    def fan(self, ctx: gen.FannerContext, message: pb.Fan) -> None:
        for key in message.keys:
            ctx.functions.store(key).get(pb.Ask(key=key))

    def gathered(
        self, ctx: gen.FannerContext, outcome: gen.StoreGetOutcome, request: pb.Ask
    ) -> None:
        self.seen.append((outcome, request))


def app(
    *, store: gen.Store | None = None, client: Client | None = None, fanner: Fanner | None = None
) -> gen.CallsApp:
    """The application over fresh implementations (or the given ones)."""
    return gen.CallsApp(
        store=store or Store(), other=Other(), client=client or Client(), fanner=fanner or Fanner()
    )
