"""A continuation that takes the reply type of another rpc than the one it continues."""

from calls_sfidl import Timeout

import calls_pb2 as pb
import calls_sfidl as gen


class Fanner(gen.Fanner):
    def fan(self, ctx: gen.FannerContext, message: pb.Fan) -> None:
        pass

    def gathered(
        self,
        ctx: gen.FannerContext,
        outcome: pb.Peeked | Timeout,  # E: Argument 2 of "gathered" is incompatible
        request: pb.Ask,
    ) -> None:
        pass
