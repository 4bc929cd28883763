"""An rpc handler that returns another type than its declared reply."""

import calls_pb2 as pb
import calls_sfidl as gen


class Other(gen.Other):
    def peek(self, ctx: gen.OtherContext, request: pb.Ask) -> pb.Peeked:
        return pb.Answer()  # E: Incompatible return value type (got "Answer", expected "Peeked")

    def size(self, ctx: gen.OtherContext, request: pb.Ask) -> pb.Peeked:  # E: Return type "Peeked" of "size" incompatible
        return pb.Peeked()
