"""Calls a function did not declare: no client, or no method, for them."""

import calls_pb2 as pb
import calls_sfidl as gen


def fan(ctx: gen.FannerContext) -> None:
    ctx.functions.store("a").get(pb.Ask())
    ctx.functions.other("a").peek(pb.Ask())  # E: "FannerFunctions" has no attribute "other"
    ctx.functions.fanner("a")  # E: [attr-defined]


def ask(ctx: gen.ClientContext) -> None:
    ctx.functions.other("a").size(pb.Ask())
    ctx.functions.other("a").peek(pb.Ask())  # E: "ClientToOther" has no attribute "peek"
    ctx.joins.gathered(("a", pb.Ask()))  # E: [attr-defined]
