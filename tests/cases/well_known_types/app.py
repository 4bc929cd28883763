"""Well-known types come with protobuf's helpers (datetimes, timedeltas, dicts)."""

from datetime import datetime, timedelta, timezone

from google.protobuf.empty_pb2 import Empty
from google.protobuf.timestamp_pb2 import Timestamp

import well_known_types_pb2 as pb
from well_known_types_sfidl import Recorder, RecorderContext, WellKnownTypesApp


class RecorderImpl(Recorder):
    def record(self, ctx: RecorderContext, request: pb.Event) -> Empty:
        at: datetime = request.at.ToDatetime(tzinfo=timezone.utc)
        took: timedelta = request.took.ToTimedelta()
        request.attributes.update({"size": 42, "colour": "blue"})
        request.history.add().FromDatetime(at + took)
        request.timings["parse"].FromMilliseconds(5)
        note: str = request.note.value
        count: int = request.count.value
        assert note or count or request.flag.value or request.ratio.value or request.blob.value
        assert request.detail.Is(pb.Event.DESCRIPTOR) or request.mask.paths
        ctx.state.last_seen = request.at
        return Empty()

    def last(self, ctx: RecorderContext, request: Empty) -> Timestamp:
        return ctx.state.last_seen


app = WellKnownTypesApp(recorder=RecorderImpl())
