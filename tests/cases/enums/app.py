"""Enums in fields, repeated, optional and map values, by constant, by nested name and by Name()."""

from typing import assert_never

import enums_pb2 as pb
from enums_sfidl import (
    EnumsApp,
    Painter,
    PainterContext,
    PainterPaintOutcome,
    Timeout,
    Walls,
    WallsRepaintContext,
)


class PainterImpl(Painter):
    def paint(self, ctx: PainterContext, request: pb.Paint) -> pb.Painted:
        ctx.state.last = request
        if request.finish == pb.Paint.FINISH_GLOSS and request.HasField("fallback"):
            return pb.Painted(color=request.fallback)
        return pb.Painted(color=request.color)


class WallsImpl(Walls):
    def repaint(self, ctx: WallsRepaintContext, message: pb.Paint) -> None:
        colors: list[pb.Color.ValueType] = list(message.mixed)
        finish: pb.Paint.Finish.ValueType = message.by_room["hall"]
        name: str = pb.Color.Name(message.color)
        ctx.functions.painter(name).paint(
            pb.Paint(
                color=pb.COLOR_BLUE,
                finish=finish,
                mixed=colors,
                by_room={"hall": pb.Paint.FINISH_MATT},
            )
        )

    def painted(
        self, ctx: WallsRepaintContext, outcome: PainterPaintOutcome, request: pb.Paint
    ) -> None:
        match outcome:
            case pb.Painted():
                assert outcome.color in (pb.COLOR_BLUE, pb.COLOR_RED)
            case Timeout():
                pass
            case _:
                assert_never(outcome)


app = EnumsApp(painter=PainterImpl(), walls=WallsImpl())
