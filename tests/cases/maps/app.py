"""A map in a message state changes in place; keys and values keep their types."""

import maps_pb2 as pb
from maps_sfidl import MapsApp, Store, StoreContext


class StoreImpl(Store):
    def update(self, ctx: StoreContext, message: pb.Update) -> None:
        catalogue = ctx.state.catalogue
        catalogue.counts[message.item] += message.delta
        catalogue.by_id[7].count = catalogue.counts[message.item]
        catalogue.flags[True] = message.item
        catalogue.levels[1] = pb.LEVEL_HIGH
        total: int = sum(stock.count for stock in catalogue.by_id.values())
        assert total >= 0
        catalogue.counts[1] = 2  # E: [index]
        catalogue.levels[2] = 1  # E: [assignment]


app = MapsApp(store=StoreImpl())
