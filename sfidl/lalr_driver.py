"""The parser's fast path: lark's own LALR tables, driven by a loop that builds the AST as it
reduces, with no lark ``Tree``, no per-state lexer and no recursion.

lark's ``parse`` gives every rule a ``Tree`` with propagated positions, every lexeme a
``Token`` and every parser state a lexer regex of its own (compiled on first use), and the
tree is then walked again to build the AST: most of a large file's compile time. Here the
text is split once by one regex over all of the grammar's terminals, each lexeme is resolved
against the terminals the current parser state takes (as the contextual lexer would), and
each reduction calls the builder's method for the rule with the children and positions
lark's tree would have handed it, in the same (bottom-up) order. Nesting depth costs nothing:
the loop keeps its own stack.

Whatever it cannot vouch for, it does not guess: a lexeme the state does not take (an error,
or a word the contextual lexer would split at a keyword), characters no terminal matches, a
rule with nothing in it. It raises :class:`Unsure`, and the caller parses with lark, which
gives the same tree or the parse error in its words.
"""

from __future__ import annotations

import hashlib
import importlib.util
import pickle
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from sfidl.user_cache import user_cache_dir

if TYPE_CHECKING:
    from lark import Lark

# A builder: rule (or alias) name -> method(meta, children) -> the node.
Methods = Callable[[str], Callable[[Any, list[Any]], Any]]
_Position = tuple[int, int, int]  # line, column (both from 1), offset: where a lexeme starts
_Entry = tuple[Any, _Position, _Position]  # value, where it starts, where it ends
# A lexeme: terminal, text, where it starts and where it ends (its line and column then).
_Lexeme = tuple[str, str, _Position, _Position]


class Unsure(Exception):
    """The fast path cannot vouch for the tree of this text: parse it with lark instead."""


class Token(str):
    """A lexeme as the builder reads one: the attributes of lark's ``Token`` (which the
    fast path does not import lark for)."""

    type: str
    start_pos: int
    line: int
    column: int
    end_line: int
    end_column: int
    end_pos: int

    def __new__(
        cls,
        kind: str,
        value: str,
        start_pos: int,
        line: int,
        column: int,
        end_line: int,
        end_column: int,
        end_pos: int,
    ) -> Token:
        token = super().__new__(cls, value)
        token.type = kind
        token.start_pos, token.line, token.column = start_pos, line, column
        token.end_line, token.end_column, token.end_pos = end_line, end_column, end_pos
        return token

    @property
    def value(self) -> str:
        return str(self)


class _Place(NamedTuple):
    line: int
    column: int
    start_pos: int
    end_line: int
    end_column: int
    end_pos: int


class Meta(_Place):
    """The positions a builder method reads, as lark's ``Tree.meta`` would hold them (a tuple:
    one is made per node, from where its first child starts and where its last ends)."""

    __slots__ = ()
    empty = False  # a node the fast path builds has a child at least


# How a reduction shapes its node, as lark's tree builder would: a `_rule` (or lark's own
# `__x_star`) hands its children to its parent; a `?rule` with one child is that child.
_BUILD, _INLINE, _SINGLE = "build", "inline", "single"
# size (symbols popped), the rule's name (to find the next state), the children kept as
# (index, spliced in from a `_rule`), the shape, the builder method (the alias, else the name)
_Rule = tuple[int, str, tuple[tuple[int, bool], ...], str, str]


@dataclass(frozen=True)
class Tables:
    """The grammar's tables in the form the loop reads (derived once, then cached)."""

    lexeme: re.Pattern[str]  # whitespace, then one terminal as a named group
    blank: re.Pattern[str]  # whitespace to the end of the text
    actions: tuple[dict[str, int], ...]  # state -> terminal or rule -> shift (>= 0) or ~rule
    rules: tuple[_Rule, ...]
    # No rule is empty (the loop takes a node's place from its children) and no terminal has
    # regex flags: else every parse goes to lark.
    usable: bool
    start: int
    end: int
    keywords: dict[str, dict[str, str]]  # word terminal -> {keyword text: keyword terminal}
    # Terminal -> the terminals lark's lexer tries after it, in lark's order, and their
    # regexes: what a state that does not take a lexeme's terminal would read there instead.
    # (The scan may try a terminal earlier, but only past ones it cannot overlap.)
    later: dict[str, tuple[str, ...]]
    regexes: dict[str, str]
    ignored: frozenset[str]  # terminals dropped (comments)
    multiline: frozenset[str]  # terminals that may hold a newline
    kept: frozenset[str]  # terminals some rule keeps as a child (a Token is made for them)
    collected: str  # the terminal handed to the caller (doc comments)


_FORMAT = b"sfidl.lalr_driver 2"  # changes when the form of the tables does


def cached_tables(grammar: str, build: Callable[[], Lark]) -> Tables:
    """The tables of ``grammar``, from the user cache folder when a run has derived them from
    lark's parser ``build()`` before (keyed by the grammar and lark's version), so that a
    parse imports no lark; a cache that cannot be read or written is no error."""
    key = hashlib.sha256(_FORMAT + grammar.encode() + _lark_version()).hexdigest()[:32]
    path = user_cache_dir() / "parser" / f"{key}.pickle"
    try:
        found = pickle.loads(path.read_bytes())
        if isinstance(found, Tables):
            return found
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ValueError, TypeError):
        pass
    derived = tables(build())
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{id(derived)}.tmp")
        temporary.write_bytes(pickle.dumps(derived, protocol=pickle.HIGHEST_PROTOCOL))
        temporary.replace(path)  # whole or not at all, for a concurrent reader
    except OSError:
        pass
    return derived


def _lark_version() -> bytes:
    """lark's ``__init__.py`` (which holds its version), read without importing lark."""
    spec = importlib.util.find_spec("lark")
    if spec is None or spec.origin is None:
        return b""
    try:
        return Path(spec.origin).read_bytes()
    except OSError:
        return b""


def tables(lark: Lark) -> Tables:
    """The tables of ``lark`` (an LALR parser with the contextual lexer)."""
    from lark.lexer import PatternRE, PatternStr, TerminalDef
    from lark.parsers.lalr_analysis import Shift

    frontend = lark.parser
    root = frontend.lexer.root_lexer
    table = frontend.parser.parser.parse_table
    terminals: list[TerminalDef] = list(root.terminals)  # in the lexer's order of preference
    # Keywords a word terminal matches whole are matched as that word, then renamed
    # (lark's "unless" callback); the scanner does not try them on their own.
    keywords: dict[str, dict[str, str]] = {}
    embedded: set[str] = set()
    for word in terminals:
        if not isinstance(word.pattern, PatternRE):
            continue
        regex = re.compile(word.pattern.to_regexp())
        for string in terminals:
            text = string.pattern.value
            if (
                isinstance(string.pattern, PatternStr)
                and string.priority == word.priority
                and regex.fullmatch(text)
            ):
                keywords.setdefault(word.name, {})[text] = string.name
                embedded.add(string.name)
    space = [t for t in terminals if t.name in root.ignore_types and t.name == "WS"]
    scanned = [t for t in terminals if t.name not in embedded and t not in space]
    order = [t.name for t in scanned]
    regexes = {t.name: t.pattern.to_regexp() for t in terminals}
    alternatives = "|".join(
        f"(?P<{name}>{regexes[name]})"
        for name in _scanning_order(
            [(t.name, regexes[t.name], isinstance(t.pattern, PatternRE)) for t in scanned]
        )
    )
    skip = f"(?:{space[0].pattern.to_regexp()})?" if space else ""
    rules: list[_Rule] = []
    index: dict[Any, int] = {}
    actions: list[dict[str, int]] = [{} for _ in range(max(table.states) + 1)]
    for state, row in table.states.items():
        for symbol, (action, argument) in row.items():
            if action is Shift:
                actions[state][symbol] = argument
                continue
            if argument not in index:
                index[argument] = len(rules)
                rules.append(_rule(argument))
            actions[state][symbol] = ~index[argument]
    kept = {
        symbol.name
        for rule in lark.rules
        for symbol in rule.expansion
        if symbol.is_term and not getattr(symbol, "filter_out", False)
    }
    return Tables(
        lexeme=re.compile(skip + "(?:" + alternatives + ")"),
        blank=re.compile(skip + r"\Z"),
        actions=tuple(actions),
        rules=tuple(rules),
        # Flags (a case-insensitive keyword, say) would make a keyword more than its text.
        usable=all(rule[0] for rule in rules) and not any(t.pattern.flags for t in terminals),
        start=table.start_states["start"],
        end=table.end_states["start"],
        keywords=keywords,
        later={name: tuple(order[i + 1 :]) for i, name in enumerate(order)},
        regexes=regexes,
        ignored=frozenset(root.ignore_types),
        multiline=frozenset(root.newline_types),
        kept=frozenset(kept),
        collected="DOC_COMMENT",
    )


def _scanning_order(terminals: list[tuple[str, str, bool]]) -> list[str]:
    """The terminals (name, regex, whether a regex rather than a string) in the order the
    lexer's regex tries them: the lexer's order, except that a regex terminal goes ahead of
    those before it that cannot start with any character it can start with (they never
    match where it does, so the order between them changes nothing). A name, the commonest
    lexeme, is then tried first instead of after every kind of number and comment: the
    scan takes half the time."""
    starts = {name: _first_characters(regex) for name, regex, _ in terminals}
    result: list[str] = []
    for name, _, movable in terminals:
        at = len(result)
        while movable and at and _disjoint(starts[name], starts[result[at - 1]]):
            at -= 1
        result.insert(at, name)
    return result


# What a match can start with: a character class, and the characters it names one by one.
_Starts = tuple[re.Pattern[str], frozenset[str]] | None  # None: anything, as far as known
_CATEGORIES = {
    "CATEGORY_DIGIT": r"\d",
    "CATEGORY_NOT_DIGIT": r"\D",
    "CATEGORY_WORD": r"\w",
    "CATEGORY_NOT_WORD": r"\W",
    "CATEGORY_SPACE": r"\s",
    "CATEGORY_NOT_SPACE": r"\S",
}
# Characters outside the classes' named ones are in or out of a class by their category
# alone (digit, other word character, space, anything else): one of each stands for all.
_STAND_INS = ("0\u0663", "aZ_\u00e9", " \u00a0", "#~\u2603")


def _first_characters(regex: str) -> _Starts:
    """The characters a match of ``regex`` can start with (None when not worked out)."""
    try:
        from re import _parser  # the regex module's own parser, for the tree of ``regex``

        parsed = _parser.parse(regex)
        items, nullable, named = _starts(list(parsed))
    except Exception:  # a construct the walk does not know: assume anything
        return None
    # Inline flags ((?i), (?a)) change what the parts match without showing in them.
    inline_flags = parsed.state.flags & (re.IGNORECASE | re.ASCII | re.LOCALE)
    if items is None or nullable or not items or inline_flags:
        return None
    return re.compile("|".join(items)), frozenset(named)


def _starts(parsed: list[Any]) -> tuple[list[str] | None, bool, set[str]]:
    """Single-character regexes for what ``parsed`` can start with, whether it can match
    nothing, and the characters named; None for the first when not worked out."""
    items: list[str] = []
    named: set[str] = set()
    for op, argument in parsed:
        kind = str(op)
        if kind == "LITERAL":
            items.append(re.escape(chr(argument)))
            named.add(chr(argument))
            return items, False, named
        if kind == "IN":
            parts: list[str] = []
            for part, value in argument:
                if str(part) == "NEGATE":
                    parts.insert(0, "^")
                elif str(part) == "LITERAL":
                    parts.append(re.escape(chr(value)))
                    named.add(chr(value))
                elif str(part) == "RANGE" and value[1] - value[0] < 256:
                    parts.append(f"{re.escape(chr(value[0]))}-{re.escape(chr(value[1]))}")
                    named.update(chr(c) for c in range(value[0], value[1] + 1))
                elif str(part) == "CATEGORY" and str(value) in _CATEGORIES:
                    parts.append(_CATEGORIES[str(value)])
                else:
                    return None, False, named
            items.append("[" + "".join(parts) + "]")
            return items, False, named
        if kind in ("AT", "ASSERT", "ASSERT_NOT"):
            continue  # consumes nothing: what follows starts the match
        if kind == "SUBPATTERN" and not argument[1] and not argument[2]:  # no flags
            inner, nullable, more = _starts(list(argument[3]))
        elif kind == "BRANCH":
            inner, nullable, more = [], False, set()
            for branch in argument[1]:
                found, empty, names = _starts(list(branch))
                if found is None:
                    return None, False, named
                inner += found
                nullable = nullable or empty
                more |= names
        elif kind in ("MAX_REPEAT", "MIN_REPEAT"):
            inner, nullable, more = _starts(list(argument[2]))
            nullable = nullable or argument[0] == 0
        else:
            return None, False, named
        if inner is None:
            return None, False, named
        items += inner
        named |= more
        if not nullable:
            return items, False, named
    return items, True, named


def _disjoint(one: _Starts, other: _Starts) -> bool:
    """Whether no character can start both."""
    if one is None or other is None:
        return False
    candidates = set(one[1] | other[1])
    for stand_ins in _STAND_INS:
        unnamed = [c for c in stand_ins if c not in candidates]
        if not unnamed:
            return False  # every stand-in is named: no safe one for that category
        candidates.add(unnamed[0])
    return not any(one[0].fullmatch(c) and other[0].fullmatch(c) for c in candidates)


def _rule(rule: Any) -> _Rule:
    options = rule.options
    if options.keep_all_tokens or options.empty_indices or options.template_source:
        raise ValueError(f"the fast parser does not shape trees with the options of {rule}")
    include = tuple(
        (i, not symbol.is_term and symbol.name.startswith("_"))
        for i, symbol in enumerate(rule.expansion)
        if not (symbol.is_term and getattr(symbol, "filter_out", False))
    )
    if rule.origin.name.startswith("_"):
        shape = _INLINE
    elif rule.options.expand1 and not rule.alias:
        shape = _SINGLE
    else:
        shape = _BUILD
    return (len(rule.expansion), rule.origin.name, include, shape, rule.alias or rule.origin.name)


def lex(tables: Tables, text: str) -> tuple[list[_Lexeme], list[Token]]:
    """The lexemes of ``text`` with where each starts and ends, comments left out, and the
    collected tokens (doc comments). Raises :class:`Unsure` where no terminal matches."""
    ignored, multiline, collected = tables.ignored, tables.multiline, tables.collected
    lexemes: list[_Lexeme] = []
    docs: list[Token] = []
    append = lexemes.append
    pos, line, line_start, size = 0, 1, 0, len(text)
    for found in tables.lexeme.finditer(text):
        if found.start() != pos:
            raise Unsure  # characters no terminal matches (the search skipped them)
        kind = found.lastgroup
        assert kind is not None
        start = found.start(kind)
        if start > pos:  # whitespace before the lexeme
            newlines = text.count("\n", pos, start)
            if newlines:
                line += newlines
                line_start = text.rfind("\n", pos, start) + 1
        pos = found.end()
        value = text[start:pos]
        column = start - line_start + 1
        if "\n" in value:
            end: _Position = (line + value.count("\n"), len(value) - value.rindex("\n"), pos)
        else:
            end = (line, column + len(value), pos)
        if kind in ignored:
            if kind == collected:
                docs.append(Token(kind, value, start, line, column, end[0], end[1], pos))
        else:
            append((kind, value, (line, column, start), end))
        if kind in multiline and "\n" in value:
            line += value.count("\n")
            line_start = start + value.rindex("\n") + 1
    if pos < size and tables.blank.match(text, pos) is None:
        raise Unsure
    # Never shifted: its place is not read.
    lexemes.append(("$END", "", (0, 0, size), (0, 0, size)))
    return lexemes, docs


def _instead(
    tables: Tables, row: dict[str, int], kind: str, text: str, offset: int, value: str
) -> str:
    """The terminal a state's lexer reads as ``value`` where it does not take ``kind`` (as the
    contextual lexer, trying the state's terminals in the same order: those before ``kind``
    did not match); raises :class:`Unsure` unless that terminal matches ``value`` exactly."""
    if kind in tables.keywords:
        raise Unsure  # the state may take a keyword this word begins with
    for other in tables.later[kind]:
        if other in row or other in tables.ignored:
            found = _compiled(tables.regexes[other]).match(text, offset)
            if found is not None:
                if found.group() != value or other in tables.ignored:
                    raise Unsure
                return other
    raise Unsure


@cache
def _compiled(regex: str) -> re.Pattern[str]:
    return re.compile(regex)


def parse(tables: Tables, text: str, lexemes: list[_Lexeme], methods: Methods) -> Any:
    """Run the LALR automaton over the ``lexemes`` of ``text``, building each node with
    ``methods(name)``.

    Raises :class:`Unsure` at anything the contextual lexer might have read otherwise, and at
    a parse error (the caller's lark parse reports it).
    """
    if not tables.usable:
        raise Unsure
    actions, rules, keywords, kept = tables.actions, tables.rules, tables.keywords, tables.kept
    # A `?rule` of one symbol, kept: the node is its child, with the child's place, so the
    # reduction changes the state alone (about a fifth of all reductions).
    passes = [rule[0] == 1 and rule[3] == _SINGLE and rule[2] == ((0, False),) for rule in rules]
    built: list[Callable[[Any, list[Any]], Any] | None] = [None] * len(rules)
    states: list[int] = [tables.start]
    stack: list[_Entry] = []
    end_state = tables.end
    new_token, new_meta = str.__new__, tuple.__new__
    for kind, value, start, end in lexemes:
        row = actions[states[-1]]
        # What the contextual lexer of this state makes of the lexeme.
        words = keywords.get(kind)
        keyword = None if words is None else words.get(value)
        if keyword is not None and keyword in row:
            kind = keyword
        elif kind not in row and kind != "$END":
            kind = _instead(tables, row, kind, text, start[2], value)
        if kind in kept:
            token = new_token(Token, value)
            line, column, offset = start
            token.__dict__ = {  # Token's attributes, without a call to its constructor
                "type": kind,
                "start_pos": offset,
                "line": line,
                "column": column,
                "end_line": end[0],
                "end_column": end[1],
                "end_pos": end[2],
            }
            entry: _Entry = (token, start, end)
        else:
            entry = (None, start, end)
        while True:
            action = row.get(kind)
            if action is None:
                raise Unsure
            if action >= 0:
                if kind == "$END":
                    raise Unsure  # lark never shifts the end
                states.append(action)
                stack.append(entry)
                break
            number = ~action
            size, goto_name, include, shape, name = rules[number]
            if passes[number]:
                del states[-1]
                goto = actions[states[-1]].get(goto_name)
                if goto is None or goto < 0:
                    raise Unsure
                states.append(goto)
                if kind == "$END" and goto == end_state:
                    return stack[-1][0]
                row = actions[goto]
                continue
            if size == 1:  # most reductions
                children = [stack.pop()]
                del states[-1]
            else:
                children = stack[-size:]
                del stack[-size:]
                del states[-size:]
            # Where lark's tree puts a node: from its first child to its last, dropped tokens
            # included (every rule has at least one child).
            first, last = children[0][1], children[-1][2]
            kids: list[Any] = []
            for i, splice in include:
                if not splice:
                    kids.append(children[i][0])
                elif kids:
                    kids.extend(children[i][0])
                else:  # take over the list (a long list grows by one item per reduction)
                    kids = children[i][0]
            if shape == _INLINE:
                node: Any = kids
            elif shape == _SINGLE and len(kids) == 1:
                node = kids[0]
            else:
                build = built[number]
                if build is None:
                    build = built[number] = methods(name)
                node = build(new_meta(Meta, first + last), kids)
            goto = actions[states[-1]].get(goto_name)
            if goto is None or goto < 0:
                raise Unsure
            states.append(goto)
            stack.append((node, first, last))
            if kind == "$END" and goto == end_state:
                return node
            row = actions[goto]
    raise Unsure  # the end of the lexemes without reaching the end state
