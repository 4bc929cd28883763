"""The names of the output files: each must be a name the file system can hold.

A .sfidl file ``<stem>.sfidl`` becomes ``<stem>.proto``, ``<stem>_pb2.py`` and
``<stem>_pb2.pyi``, and the root file also ``<stem>_sfidl.py``. File systems refuse a
name longer than 255 bytes (``NAME_MAX`` on Linux and macOS, 255 UTF-16 units on
Windows), and protoc fails on it with "File name too long": so a stem that fits in its own
``.sfidl`` name (6 bytes of suffix) can still be too long for its outputs (up to 9).
"""

from __future__ import annotations

from sfidl.check import rules
from sfidl.check.report import Reporter
from sfidl.diagnostics import Span
from sfidl.model import Program

MAX_FILE_NAME_BYTES = 255


def check_output_file_names(report: Reporter, program: Program) -> None:
    """Report every .sfidl file whose outputs would have a name too long to write."""
    for source in program.files:
        # protoc's `<stem>_pb2.pyi` is the longest output of an imported file.
        longest = (
            f"{program.stubs_module}.py" if source is program.root else f"{source.stem}_pb2.pyi"
        )
        suffix = longest.removeprefix(source.stem)
        size = len(longest.encode())
        if size <= MAX_FILE_NAME_BYTES:
            continue
        report.error(
            Span.point(source.path, 1, 1),
            f"the output file {longest[:24]}…{suffix} would have a name of {size} bytes; "
            f"file systems hold at most {MAX_FILE_NAME_BYTES}",
            hint=f"rename the file: its name without `.sfidl` may have at most "
            f"{MAX_FILE_NAME_BYTES - len(suffix.encode())} bytes",
            code=rules.FILE_NAME_TOO_LONG,
        )
