"""Well-known types are distinct message types."""

from google.protobuf.empty_pb2 import Empty
from google.protobuf.timestamp_pb2 import Timestamp

import well_known_types_pb2 as pb
from well_known_types_sfidl import RecorderContext


def record(ctx: RecorderContext, request: pb.Event) -> Timestamp:
    ctx.state.last_seen = request.took  # E: [assignment]
    request.note.value = 3  # E: [assignment]
    return Empty()  # E: [return-value]
