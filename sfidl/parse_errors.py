"""Parse errors in the user's words, not lark's terminal names.

``EXAMPLES`` maps a message to sample inputs that fail in the same LALR state with the
same acceptable terminals (the idea of lark's ``match_examples``, without its comparison
of stack depths, so that nesting does not matter); anything else is described from the
set of expected terminals.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lark import Lark, Token
from lark.exceptions import UnexpectedInput, UnexpectedToken

_NS = "namespace a; "
_FN = _NS + "function F { "

EXAMPLES: dict[str, list[str]] = {
    "expected `namespace` as the first statement": ["", "message M {}", "import x;"],
    "expected `;` after the namespace": ["namespace a", "namespace a.b message M {}"],
    "expected a declaration (`message`, `error`, `enum`, `function`, `ingress`, `egress`, `import`)": [
        _NS + "foo",
        _NS + "message M {} }",
        _NS + "message M {} {",
    ],
    "expected a string": [
        _NS + "import x;",
        _NS + "endpoint x;",
        _NS + "kafka brokers x;",
        _NS + "kinesis region x;",
    ],
    "expected `;` after the field declaration": [
        _NS + "message M { string a = 1 }",
        _NS + "message M { map<string, int32> a = 1 }",
    ],
    "expected `=` and a field number after the field name": [
        _NS + "message M { string a; }",
        _NS + "message M { map<string, int32> a; }",
    ],
    "expected a field number": [
        _NS + "message M { string a = ; }",
        _NS + "message M { map<string, int32> a = ; }",
    ],
    "expected a field name": [
        _NS + "message M { string = 1; }",
        _NS + "message M { map<string, int32> = 1; }",
    ],
    "expected a type name": [
        _NS + "message M { repeated = 1; }",
        _NS + "message M { map<= 1; }",
        _NS + "message M { map<string, > a = 1; }",
        _FN + "on a(); }",
        _FN + "rpc a(); }",
        _FN + "state s: ; }",
        _FN + "rpc a(M) returns ; }",
        _FN + "rpc a(M) returns R raises ; }",
        _FN + "timer t(); }",
        _FN + "on a(M) calls A.b -> c carrying ; }",
        _NS + 'egress e: kafka topic "x" of ;',
        _NS + 'ingress i: kafka topic "x" of ;',
    ],
    "expected a field, `oneof`, `reserved`, a nested `message` or `enum`, or `}`": [
        _NS + "message M { = }",
    ],
    "expected `;` after the enum value": [_NS + "enum E { A = 0 }"],
    "expected `= NUMBER` after the enum value name": [_NS + "enum E { A; }"],
    "expected a state, a handler (`rpc`, `on`), a `timer` or `}`": [_FN + "foo }"],
    "expected `;` after the state declaration": [
        _FN + "state s: int32 }",
        _FN + "state s: int32 = 0 }",
        _FN + "state s: M expire after write 1h }",
    ],
    "expected `;` after the handler declaration": [
        _FN + "on a(M) }",
        _FN + "rpc a(M) returns R }",
        _FN + "rpc a(M) returns R raises E }",
        _FN + "on a(M) calls A.b -> c }",
        _FN + "on a(M) calls A.b -> c carrying X }",
        _FN + "on a(M) calls A.b -> c timeout 1s }",
        _FN + "on a(M) sends A.b }",
        _FN + "on a(M) emits e }",
    ],
    "expected `;` after the timer declaration": [
        _FN + "timer t(M) }",
        _FN + "timer t(M) sends A.b }",
    ],
    "expected `returns` and the reply type after the request of an `rpc`": [_FN + "rpc a(M); }"],
    "expected `->` and a continuation name after the call target": [
        _FN + "on a(M) calls A.b; }",
        _FN + "on a(M) calls (A.b, C.d); }",
    ],
    "expected a continuation name after `->`": [_FN + "on a(M) calls A.b -> ; }"],
    "expected a duration such as `5s` or `500ms` (units: ms, s, m, h, d)": [
        _FN + "on a(M) calls A.b -> c timeout 5; }",
        _FN + "on a(M) calls A.b -> c timeout x; }",
        _FN + "state s: M expire after write 5; }",
        _FN + "state s: M expire after write x; }",
    ],
    "expected `write` or `call` after `expire after`": [_FN + "state s: M expire after 5s; }"],
    "expected `Function.handler`": [
        _FN + "on a(M) sends A; }",
        _FN + "on a(M) sends ; }",
        _FN + "on a(M) calls A -> c; }",
        _FN + "on a(M) calls ; }",
        _NS + 'ingress i: kafka topic "x" -> A;',
        _NS + 'ingress i: kafka topic "x" -> ;',
    ],
    'expected `kafka topic "..."` or `kinesis stream "..."`': [
        _NS + "ingress i: foo",
        _NS + "egress e: foo",
    ],
    "expected `of TYPE` or `for dead letters` after the egress topic": [
        _NS + 'egress e: kafka topic "x";',
    ],
    "expected `-> Function.handler` after the ingress topic": [
        _NS + 'ingress i: kafka topic "x";',
        _NS + 'ingress i: kafka topic "x" of M;',
    ],
    "expected `;` after the ingress declaration": [_NS + 'ingress i: kafka topic "x" -> A.b'],
    "expected `;` after the egress declaration": [
        _NS + 'egress e: kafka topic "x" of M',
        _NS + 'egress e: kafka topic "x" for dead letters',
    ],
    "expected `;` after the statement": [
        _NS + 'import "x"',
        _NS + 'endpoint "x"',
        _NS + 'kafka brokers "x"',
        _NS + 'kinesis region "x"',
    ],
}

# Words for the terminals that are not plain keywords or punctuation.
_WORDS = {
    "NAME": "a name",
    "INT": "a number",
    "SIGNED_INT": "a number",
    "FLOAT": "a number",
    "STRING": "a string",
    "DURATION": "a duration such as `5s`",
    "$END": "the end of the file",
}


def describe_unexpected(parser: Lark, error: UnexpectedToken) -> str:
    """The message for an unexpected token: the matching example's label, else a description."""
    token = error.token
    found = "the end of the file" if token.type == "$END" else f"`{token}`"
    state = _state(error)
    labels = _labels(parser)
    label = labels.get(state) or labels.get(state[1])
    expected = error.accepts or error.expected
    if label is not None:
        return f"{label}, found {found}"
    words = sorted({_word(parser, name) for name in expected})
    if len(words) > 1 and "`.`" in words:
        words.remove("`.`")  # a dotted name could go on, but that is rarely what was meant
    if 0 < len(words) <= 4:
        listed = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]
        return f"expected {listed}, found {found}"
    return f"unexpected {found}"


_LABELS: dict[int, dict[Any, str]] = {}


def _labels(parser: Lark) -> dict[Any, str]:
    """The label of each LALR state an example fails in (computed once per parser).

    Also keyed by the set of acceptable terminals alone, where that set has one label
    only: the same continuation is then expected, whichever declaration just ended.
    """
    if id(parser) not in _LABELS:
        labels: dict[Any, str] = {}
        by_accepts: dict[frozenset[str], set[str]] = {}
        for label, examples in EXAMPLES.items():
            for example in examples:
                try:
                    parser.parse(example)
                except UnexpectedToken as error:
                    state = _state(error)
                    labels.setdefault(state, label)
                    by_accepts.setdefault(state[1], set()).add(label)
                except UnexpectedInput:
                    pass
        for accepts, found in by_accepts.items():
            if len(found) == 1:
                labels.setdefault(accepts, found.pop())
        _LABELS[id(parser)] = labels
    return _LABELS[id(parser)]


def _state(error: UnexpectedToken) -> Any:
    # lark reports the whole parser state; the LALR state number is its position. One
    # LALR state can serve several rules (a type name ends a field, a state, an egress...);
    # the terminals acceptable on this very stack tell them apart.
    return getattr(error.state, "position", error.state), frozenset(error.accepts or ())


def _word(parser: Lark, terminal: str) -> str:
    if terminal in _WORDS:
        return _WORDS[terminal]
    try:
        pattern = parser.get_terminal(terminal).pattern
    except KeyError:
        return terminal.lower()
    if pattern.type == "str":
        return f"`{pattern.value}`"
    return terminal.lower()
