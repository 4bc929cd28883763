"""Calls a member did not declare: no client, or no method, for them."""

import calls_pb2 as pb
import calls_sfidl as gen


def fan(ctx: gen.FannerFanContext) -> None:
    ctx.functions.store("a").get(pb.Ask())
    ctx.functions.other("a").peek(pb.Ask())  # E: "FannerFanFunctions" has no attribute "other"
    ctx.functions.fanner("a")  # E: [attr-defined]


def measure(ctx: gen.ClientMeasureContext) -> None:
    ctx.functions.other("a").size(pb.Ask())
    ctx.functions.other("a").peek(pb.Ask())  # E: "ClientMeasureToOther" has no attribute "peek"
    ctx.joins.joined(("a", pb.Ask()), ("a", pb.Ask()))  # E: "ClientMeasureContext" has no attribute "joins"


def ask(ctx: gen.ClientAskContext) -> None:
    ctx.functions.store("a").get(pb.Ask(), carry=pb.Note())
    ctx.functions.other("a").size(pb.Ask())  # E: "ClientAskFunctions" has no attribute "other"
