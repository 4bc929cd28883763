"""A map in a message state changes in place, keyed by strings, integers and booleans."""

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


app = MapsApp(store=StoreImpl())
