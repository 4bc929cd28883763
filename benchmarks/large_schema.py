"""A synthetic, deterministic large schema for measuring the compiler at scale.

``large_schema(messages)`` writes a .sfidl text with about ``messages`` message and error
declarations and ``messages * 3 // 20`` functions (2,000 messages: 300 functions). Every
function has a message state and a scalar state with expiry, an rpc with an error, a
one-way handler that calls the next function (with a carried value and a timeout),
sends, emits and sets a timer, a join every third function, a deferred reply every
fifth, and every tenth function is exclusive. Calls only go forward (function ``i``
calls ``i + 1`` and ``i + 2``), so there is no call cycle to report. One ingress per
two functions and one egress per twenty, plus a dead-letter egress.

The text is the same for the same size: no randomness, no clock.

    python benchmarks/large_schema.py 2000 > large.sfidl
"""

from __future__ import annotations

import argparse

# Words for names of realistic length (the generated Python wraps lines by length).
_NOUNS = (
    "Account",
    "Order",
    "Shipment",
    "Invoice",
    "Customer",
    "Warehouse",
    "Payment",
    "Catalog",
    "Session",
    "Ledger",
    "Route",
    "Device",
)
_SCALARS = ("string", "int32", "int64", "bool", "double", "bytes", "uint32", "sint64")


def function_count(messages: int) -> int:
    """How many functions a schema of ``messages`` messages gets (at least one)."""
    return max(1, messages * 3 // 20)


def _function_name(i: int) -> str:
    return f"{_NOUNS[i % len(_NOUNS)]}Service{i}"


def large_schema(messages: int) -> str:
    """The .sfidl text of a schema with about ``messages`` messages (see the module doc)."""
    functions = function_count(messages)
    egresses = max(1, functions // 20)
    # Per function: a request, a reply, an event, a timer message and an error (5); the
    # rest are shared records the others hold as fields.
    records = max(1, messages - 5 * functions)
    out: list[str] = [
        "/// A synthetic schema: the compiler's benchmark at scale.",
        "namespace com.example.large;",
        "",
        'endpoint "http://functions:8000/statefun";',
        "",
        "enum Priority {",
        "  PRIORITY_UNSPECIFIED = 0;",
        "  PRIORITY_LOW = 1;",
        "  PRIORITY_HIGH = 2;",
        "}",
        "",
    ]
    for r in range(records):
        out += _record(r)
    for i in range(functions):
        out += _function_messages(i, records)
    for i in range(functions):
        out += _function(i, functions, egresses)
    for i in range(0, functions, 2):
        name = _function_name(i)
        out.append(f'ingress feed_{i}: kafka topic "feed-{i}" of {name}Event -> {name}.update;')
    out.append("")
    for e in range(egresses):
        channel = f'kafka topic "out-{e}"' if e % 2 == 0 else f'kinesis stream "out-{e}"'
        out.append(f"egress out_{e}: {channel} of Record{e % records};")
    out.append('egress dead: kafka topic "dead-letters" for dead letters;')
    return "\n".join(out) + "\n"


def _record(r: int) -> list[str]:
    lines = [f"/// Shared record {r}: what several requests carry.", f"message Record{r} {{"]
    for f in range(1, 7):
        scalar = _SCALARS[(r + f) % len(_SCALARS)]
        label = "repeated " if f == 4 else ("optional " if f == 5 else "")
        lines.append(f"  {label}{scalar} field_{f} = {f};")
    lines.append("  map<string, int64> counters = 7;")
    lines.append("  Priority priority = 8;")
    if r > 0:
        lines.append(f"  Record{r - 1} previous = 9;")
    lines.append("  google.protobuf.Timestamp updated_at = 10;")
    lines += ["}", ""]
    return lines


def _function_messages(i: int, records: int) -> list[str]:
    name = _function_name(i)
    record = f"Record{i % records}"
    return [
        f"/// A request to {name}.",
        f"message {name}Request {{",
        "  string key = 1;",
        f"  {record} payload = 2;",
        "  repeated string tags = 3;",
        "}",
        "",
        f"message {name}Reply {{",
        "  /// What the function holds for the key.",
        f"  {record} value = 1;",
        "  int64 version = 2;",
        "  oneof source { string cache = 3; string store = 4; }",
        "}",
        "",
        f"message {name}Event {{",
        "  string key = 1;",
        "  int32 amount = 2;",
        "  Priority priority = 3;",
        "}",
        "",
        f"message {name}Tick {{}}",
        "",
        f"/// {name} cannot answer.",
        f"error {name}Unavailable {{",
        "  string reason = 1;",
        "  int32 retry_after_seconds = 2;",
        "}",
        "",
    ]


def _function(i: int, functions: int, egresses: int) -> list[str]:
    name = _function_name(i)
    exclusive = "exclusive " if i % 10 == 0 else ""
    deferring = i % 5 == 4
    lines = [
        f"/// Function {i}: one instance per key.",
        f"{exclusive}function {name} {{",
        f"  state latest: {name}Reply expire after write 1h;",
        "  /// How many events this instance has seen.",
        "  state events: int64 = 0 expire after call 30d;",
        "  state label: string;",
        "",
        f"  rpc lookup({name}Request) returns {name}Reply raises {name}Unavailable;",
    ]
    effects = [f"sets tick", f"emits out_{i % egresses}"]
    if i + 1 < functions:
        after = _function_name(i + 1)
        effects.insert(0, f"calls {after}.lookup -> looked_up carrying {name}Event timeout 5s")
        effects.append(f"sends {after}.update")
    lines.append(f"  on update({name}Event)")
    lines += [f"      {effect}" for effect in effects[:-1]]
    lines[-1] += ""
    lines.append(f"      {effects[-1]};")
    if i % 3 == 0 and i + 2 < functions:
        first, second = _function_name(i + 1), _function_name(i + 2)
        lines.append(
            f"  on refresh({name}Request) calls ({first}.lookup, {second}.lookup) -> refreshed"
            " timeout 2s;"
        )
    if deferring:
        lines.append(f"  on settle({name}Tick) completes lookup;")
    lines.append(f"  timer tick({name}Tick) emits out_{i % egresses};")
    lines += ["}", ""]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("messages", type=int, help="how many messages (about)")
    args = parser.parse_args()
    print(large_schema(args.messages), end="")


if __name__ == "__main__":
    main()
