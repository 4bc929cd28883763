"""The `sfidl breaking` command: load both versions, compare, report, exit 0, 1 or 2."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from contextlib import ExitStack
from pathlib import Path

from sfidl.breaking.old_version import BadInput, OldVersion, from_git, git_label
from sfidl.breaking.report import render, summary
from sfidl.breaking.rule import Category
from sfidl.breaking.run import compare
from sfidl.diagnostics import CompileError
from sfidl.frontend import load_program

SAFE, BREAKING, BAD_INPUT = 0, 1, 2


def run_breaking(args: argparse.Namespace) -> int:
    """Compare ``args.file`` with ``args.against`` or its version at ``args.against_git``."""
    enabled = set(args.categories or Category) - set(args.excluded or ())
    with ExitStack() as stack:
        try:
            new = load_program(args.file)
            old = _old_version(args.file, args.against, args.against_git, stack)
        except BadInput as error:
            print(f"sfidl: error: {error}", file=sys.stderr)
            return BAD_INPUT
        except CompileError as error:
            print(error.render(), file=sys.stderr)
            return BAD_INPUT
        result = compare(old.loaded.program, new.program, new.sources, categories=enabled)
    if result.errors:
        print(CompileError(result.errors, new.sources).render(), file=sys.stderr)
        return BAD_INPUT
    sys.stdout.write(render(result, args.format, new.sources, old.label))
    if args.format != "text":
        print(summary(result), file=sys.stderr)
    return BREAKING if result.breaks else SAFE


def _old_version(new: Path, against: Path | None, ref: str | None, stack: ExitStack) -> OldVersion:
    """The old program; its compile errors come back with git paths shown as ``REF:path``."""
    if ref is None:
        assert against is not None
        return OldVersion(load_program(against))
    path, prefix = stack.enter_context(from_git(new, ref))
    try:
        return OldVersion(load_program(path), prefix, ref)
    except CompileError as error:
        diagnostics = [
            dataclasses.replace(
                d, span=dataclasses.replace(d.span, file=git_label(prefix, ref, d.span.file))
            )
            for d in error.diagnostics
        ]
        sources = {git_label(prefix, ref, k): v for k, v in error.sources.items()}
        raise CompileError(diagnostics, sources) from None
