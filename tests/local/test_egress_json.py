"""An egress record's payload is ``MessageToJson`` of its message (``playground=True``), also
where :mod:`sfidl.local.egress` writes it without json_format (messages of plain fields)."""

from __future__ import annotations

import json
import random

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from google.protobuf.message import Message

from sfidl.local import egress
from sfidl.local.store import StoredEgress
from sfidl.runtime.manifest import EgressManifest, IoKind, Manifest

F = descriptor_pb2.FieldDescriptorProto


def _classes() -> dict[str, type[Message]]:
    """Messages with every kind of field: flat ones (strings, 32-bit integers, booleans,
    proto3 optional, a oneof) and ones json_format writes its own way."""
    file = descriptor_pb2.FileDescriptorProto(
        name="test_egress_json.proto", package="test.egress_json", syntax="proto3"
    )
    file.enum_type.add(name="Colour").value.add(name="RED", number=0)
    file.enum_type[0].value.add(name="GREEN", number=1)
    fields = {
        "Flat": [
            ("s", F.TYPE_STRING, None),
            ("i", F.TYPE_INT32, None),
            ("u", F.TYPE_UINT32, None),
            ("z", F.TYPE_SINT32, None),
            ("f", F.TYPE_FIXED32, None),
            ("sf", F.TYPE_SFIXED32, None),
            ("b", F.TYPE_BOOL, None),
        ],
        "WithBytes": [("s", F.TYPE_STRING, None), ("data", F.TYPE_BYTES, None)],
        "WithInt64": [("n", F.TYPE_INT64, None)],
        "WithDouble": [("x", F.TYPE_DOUBLE, None), ("y", F.TYPE_FLOAT, None)],
        "WithEnum": [("c", F.TYPE_ENUM, ".test.egress_json.Colour")],
        "WithRepeated": [("s", F.TYPE_STRING, None)],
        "WithMessage": [("flat", F.TYPE_MESSAGE, ".test.egress_json.Flat")],
    }
    for name, spec in fields.items():
        message = file.message_type.add(name=name)
        for number, (field, kind, type_name) in enumerate(spec, 1):
            added = message.field.add(name=field, number=number, type=kind, label=F.LABEL_OPTIONAL)
            if type_name:
                added.type_name = type_name
            if name == "WithRepeated":
                added.label = F.LABEL_REPEATED
    optional = file.message_type.add(name="FlatOptional")
    optional.oneof_decl.add(name="choice")
    optional.oneof_decl.add(name="_o")  # proto3 optional: a synthetic oneof, after the others
    optional.field.add(name="o", number=1, type=F.TYPE_INT32, oneof_index=1, proto3_optional=True)
    optional.field.add(name="a", number=2, type=F.TYPE_STRING, oneof_index=0)
    optional.field.add(name="b", number=3, type=F.TYPE_BOOL, oneof_index=0)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return {
        name: message_factory.GetMessageClass(
            pool.FindMessageTypeByName(f"test.egress_json.{name}")
        )
        for name in [*fields, "FlatOptional"]
    }


CLASSES = _classes()
TEXTS = ["", "a", "héllo wörld", "日本", 'quote " and \\ and \n newline', "\u2028", "😀"]


def _values(cls: type[Message], rng: random.Random) -> Message:
    message = cls()
    for field in cls.DESCRIPTOR.fields:
        if field.containing_oneof is not None and rng.random() < 0.5:
            continue
        if field.type == F.TYPE_STRING:
            value: object = rng.choice(TEXTS)
        elif field.type == F.TYPE_BOOL:
            value = rng.choice([False, True])
        elif field.type in (F.TYPE_UINT32, F.TYPE_FIXED32):
            value = rng.choice([0, 1, 2**32 - 1])
        elif field.type in (F.TYPE_INT32, F.TYPE_SINT32, F.TYPE_SFIXED32):
            value = rng.choice([0, -1, 7, -(2**31), 2**31 - 1])
        elif field.type == F.TYPE_INT64:
            value = rng.choice([0, -(2**63), 2**53 + 1])
        elif field.type in (F.TYPE_DOUBLE, F.TYPE_FLOAT):
            value = rng.choice([0.0, 0.1, -1.5, float("inf"), float("nan")])
        elif field.type == F.TYPE_BYTES:
            value = rng.choice([b"", b"\x00\xff"])
        elif field.type == F.TYPE_ENUM:
            value = rng.choice([0, 1])
        else:
            message.flat.CopyFrom(_values(CLASSES["Flat"], rng))
            continue
        if field.is_repeated:
            getattr(message, field.name).extend([value, value])
        else:
            setattr(message, field.name, value)
    return message


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_a_payload_is_message_to_json_of_the_record(name):
    cls = CLASSES[name]
    manifest = Manifest(
        "test.egress_json",
        (),
        egresses=(EgressManifest("test.egress_json/out", IoKind.KAFKA, "out", cls),),
    )
    rng = random.Random(name)
    for seq in range(200):
        message = _values(cls, rng)
        row = StoredEgress(seq, "test.egress_json/out", "out", "k", message.SerializeToString())
        expected = json_format.MessageToJson(
            message, indent=None, preserving_proto_field_name=True
        ).encode()
        assert egress.payload(manifest, row) == expected
        assert egress.payload_line(manifest, row) == expected + b"\n"


def test_a_payload_that_does_not_decode_is_the_stored_bytes():
    manifest = Manifest(
        "test.egress_json",
        (),
        egresses=(EgressManifest("test.egress_json/out", IoKind.KAFKA, "out", CLASSES["Flat"]),),
    )
    row = StoredEgress(1, "test.egress_json/out", "out", "k", b"\xff\xff")
    assert egress.payload(manifest, row) == b"\xff\xff"
    assert b'"error": "cannot decode the value' in egress.payload_line(manifest, row)


def test_a_proto2_string_that_is_not_utf8_is_written_as_json_format_writes_it():
    """proto2 does not check a string as UTF-8 when parsing it: such a value is no str."""
    file = descriptor_pb2.FileDescriptorProto(
        name="test_egress_json2.proto", package="test.egress_json2", syntax="proto2"
    )
    note = file.message_type.add(name="Note")
    note.field.add(name="text", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    note.field.add(name="n", number=2, type=F.TYPE_INT32, label=F.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    cls = message_factory.GetMessageClass(pool.FindMessageTypeByName("test.egress_json2.Note"))
    manifest = Manifest(
        "test.egress_json2",
        (),
        egresses=(EgressManifest("test.egress_json2/out", IoKind.KAFKA, "out", cls),),
    )
    for data in (b"\x0a\x02\xc3\x28\x10\x07", b"\x0a\x02ok\x10\x07"):  # text: not UTF-8, then ok
        message = cls()
        message.ParseFromString(data)
        expected = json_format.MessageToJson(
            message, indent=None, preserving_proto_field_name=True
        ).encode()
        row = StoredEgress(1, "test.egress_json2/out", "out", "k", data)
        assert egress.payload(manifest, row) == expected
        assert json.loads(egress.payload_line(manifest, row))
