"""Each member's context has exactly the effects it declared: no other part, no other target."""

from datetime import timedelta

import calls_pb2 as pb
import calls_sfidl as gen


def publish(ctx: gen.ClientPublishContext) -> None:
    ctx.egress.log.write(pb.Note())
    ctx.timers.tick.after(timedelta(seconds=1), pb.Tick())  # E: "ClientPublishContext" has no attribute "timers"
    ctx.functions.store("a")  # E: "ClientPublishContext" has no attribute "functions"


def arm(ctx: gen.ClientArmContext) -> None:
    ctx.timers.tick.after(timedelta(seconds=1), pb.Tick())
    ctx.egress.log.write(pb.Note())  # E: "ClientArmContext" has no attribute "egress"


def tick(ctx: gen.ClientContext) -> None:
    ctx.timers.tick.after(timedelta(seconds=1), pb.Tick())  # E: "ClientContext" has no attribute "timers"


def poke(ctx: gen.ClientPokeContext) -> None:
    ctx.functions.other("a").note(pb.Note())
    ctx.functions.other("a").note(pb.Ask())  # E: [arg-type]
    ctx.functions.other("a").size(pb.Ask())  # E: "ClientPokeToOther" has no attribute "size"


def check(ctx: gen.VaultContext) -> None:
    ctx.defer()  # E: "VaultContext" has no attribute "defer"
    ctx.replies.open  # E: "VaultContext" has no attribute "replies"
