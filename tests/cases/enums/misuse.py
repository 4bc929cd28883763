"""An int, or a value of another enum, is not a value of an enum."""

import enums_pb2 as pb


def paint() -> None:
    pb.Paint(color=pb.Paint.FINISH_MATT)  # E: [arg-type]
    pb.Paint(color=1)  # E: [arg-type]
    pb.Paint(finish=pb.Paint.FINISH_NEON)  # E: has no attribute "FINISH_NEON"
