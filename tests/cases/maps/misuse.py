"""A map's keys and values keep their types."""

import maps_pb2 as pb


def update(catalogue: pb.Catalogue) -> None:
    catalogue.counts[1] = 2  # E: [index]
    catalogue.levels[2] = 1  # E: [assignment]
