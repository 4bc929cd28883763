"""`carrying Note`: the carried value is required and must be a Note."""

import calls_pb2 as pb
import calls_sfidl as gen


def ask(ctx: gen.ClientAskContext) -> None:
    ctx.functions.store("a").get(pb.Ask(), carry=pb.Start())  # E: "Start"; expected "Note"
    ctx.functions.store("a").get(pb.Ask())  # E: Missing named argument "carry"
    ctx.functions.store("a").get(pb.Ask(), carry=pb.Note(), timeout=3)  # E: [arg-type]


def loop(ctx: gen.ClientLoopContext) -> None:
    ctx.functions.client("a").echo(pb.Ask(), carry=pb.Note())  # E: Unexpected keyword argument "carry"
