"""A call with a request of another type than the rpc takes."""

import calls_pb2 as pb
import calls_sfidl as gen


def ask(ctx: gen.ClientAskContext) -> None:
    ctx.functions.store("a").get(pb.Ask(key="a"), carry=pb.Note())
    ctx.functions.store("a").get(pb.Note(text="a"), carry=pb.Note())  # E: "Note"; expected "Ask"  [arg-type]


def fan(ctx: gen.FannerFanContext) -> None:
    ctx.functions.store("a").get(pb.Answer())  # E: [arg-type]


def join(ctx: gen.ClientBothContext) -> None:
    ctx.joins.joined(("a", pb.Ask()), ("a", pb.Ask()))
    ctx.joins.joined(("a", pb.Ask()), ("a", pb.Peeked()))  # E: [arg-type]
