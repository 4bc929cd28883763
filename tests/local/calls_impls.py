"""Implementations of ``calls_local.sfidl``; imported once the ``calls`` fixture compiled it.

Callee.get answers its key (with its ``ctx.now``), refuses the key ``refuse``; for the key
``wait`` it first awaits its ``gate`` when it has one, for ``nap`` it sleeps 50 ms.
Callee.later defers its reply until a Release message completes it. Caller's continuation notes each
outcome in its ``seen`` state, with the time it saw it.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import calls_local_pb2 as pb
import calls_local_sfidl as gen

import sfidl.runtime as sf
from sfidl.runtime import Timeout

CALLEE = "test.local_calls/callee"
CALLER = "test.local_calls/caller"


def epoch_ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


class Callee(gen.Callee):
    def __init__(self, gate: asyncio.Event | None = None) -> None:
        self.gate = gate

    async def get(self, ctx: gen.CalleeContext, request: pb.Ask) -> pb.Answer | gen.RefusedError:
        ctx.state.asked += 1
        if request.key == "wait" and self.gate is not None:
            await self.gate.wait()
        if request.key == "nap":
            await asyncio.sleep(0.05)  # real time: the engine's clock does not move meanwhile
        if request.key == "refuse":
            return gen.RefusedError(pb.Refused(key=request.key))
        return pb.Answer(key=request.key, at_ms=epoch_ms(ctx.now))

    def later(self, ctx: gen.CalleeLaterContext, request: pb.Ask) -> sf.Deferred:
        deferred = ctx.defer()
        ctx.state.waiting = deferred.id
        assert ctx.deadline is not None
        ctx.state.deadline = epoch_ms(ctx.deadline)
        return deferred

    def release(self, ctx: gen.CalleeReleaseContext, message: pb.Release) -> None:
        answer = pb.Answer(key="released", at_ms=epoch_ms(ctx.now))
        answered = ctx.replies.later.reply(sf.ReplyId(ctx.state.waiting), answer)
        ctx.state.pokes.outcomes.append(f"released: {answered}")

    def poke(self, ctx: gen.CalleeContext, message: pb.Poke) -> None:
        ctx.state.pokes.outcomes.append(message.key)


class Caller(gen.Caller):
    def __init__(self, timeout: timedelta | None = None) -> None:
        self.timeout = timeout
        self.timed_out = asyncio.Event()  # set (on the engine's loop) when a call timed out

    def ask(self, ctx: gen.CallerAskContext, message: pb.Start) -> None:
        client = ctx.functions.callee(message.key)
        ask = pb.Ask(key=message.key)
        if self.timeout is None:
            client.get(ask)  # the IDL's timeout, 5 s
        else:
            client.get(ask, timeout=self.timeout)

    def poke(self, ctx: gen.CallerPokeContext, message: pb.Poke) -> None:
        ctx.state.label = message.key
        ctx.functions.callee(message.key).poke(message)

    def wait(self, ctx: gen.CallerWaitContext, message: pb.Wait) -> None:
        ctx.functions.callee(message.key).later(pb.Ask(key=message.key))

    def got(
        self, ctx: gen.CallerAskContext, outcome: gen.CalleeGetOutcome, request: pb.Ask
    ) -> None:
        self.note(ctx, outcome)

    def waited(
        self, ctx: gen.CallerWaitContext, outcome: gen.CalleeLaterOutcome, request: pb.Ask
    ) -> None:
        self.note(ctx, outcome)

    def note(self, ctx: gen.CallerContext, outcome: gen.CalleeGetOutcome) -> None:
        match outcome:
            case pb.Answer():
                seen = f"answer {outcome.key} from {outcome.at_ms}"
            case gen.RefusedError():
                seen = f"refused {outcome.detail.key}"
            case Timeout():
                seen = f"timeout after {outcome.after}"
                self.timed_out.set()
        ctx.state.seen.outcomes.append(f"{seen} at {epoch_ms(ctx.now)}")


def app(callee: Callee | None = None, caller: Caller | None = None) -> gen.CallsLocalApp:
    return gen.CallsLocalApp(callee=callee or Callee(), caller=caller or Caller())
