"""Numbered text lines of an evidence file, as a DuckDB table expression.

DuckDB's CSV reader scans lines fast but stops at the first byte sequence that is not UTF-8, a NUL,
a stray carriage return or its own delimiter, and a statement that fails inside the evidence
file's transaction spoils the whole file. So the file is first checked in Python (a bounded pass
in large chunks, C-speed byte searches); a clean file is read in place, and a file with bad bytes
is copied once with those bytes made visible (``\\xff``, ``\\x00``) and a warning per line, so
line numbers stay those of the evidence and nothing is dropped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from forensics.context import ParseContext, sql_string

CHUNK = 16 << 20
MAX_LINE = 8 << 20           # longer lines are cut (with a warning) so the reader never fails
_SPECIAL = (b"\x00", b"\x01", b"\r")


@dataclass
class Lines:
    """``sql`` is a table expression with columns ``line_no`` (1-based) and ``line``."""

    sql: str
    cleaned: Path | None = None

    def close(self) -> None:
        if self.cleaned is not None:
            try:
                os.unlink(self.cleaned)
            except OSError:
                pass
            self.cleaned = None

    def __enter__(self) -> "Lines":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_lines_sql(path: str | os.PathLike[str]) -> str:
    """The line-numbered scan of a clean file (no NUL, \\x01 or \\r bytes; valid UTF-8)."""
    return (
        "(SELECT row_number() OVER () AS line_no, line FROM read_csv("
        f"{sql_string(path)}, columns={{'line': 'VARCHAR'}}, delim=chr(1), quote='', escape='', "
        f"header=false, auto_detect=false, new_line='\\n', max_line_size={MAX_LINE + 1024}, "
        f"buffer_size={2 * MAX_LINE + 4096}))"
    )


def _chunk_is_clean(data: bytes) -> bool:
    if any(b in data for b in _SPECIAL):
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _file_is_clean(path: Path) -> bool:
    """One pass in 16 MiB chunks: bytes the line reader cannot take, or a line over MAX_LINE."""
    rest = b""
    with open(path, "rb") as f:
        while True:
            chunk = f.read(CHUNK)
            if not chunk:
                return _chunk_is_clean(rest) if rest else True
            cut = chunk.rfind(b"\n")
            if cut < 0:
                rest += chunk
                if len(rest) > MAX_LINE:
                    return False
                continue
            first_nl = chunk.find(b"\n")
            if len(rest) + first_nl > MAX_LINE:
                return False
            if not _chunk_is_clean(rest + chunk[: cut + 1]):
                return False
            rest = chunk[cut + 1:]


def _clean_line(raw: bytes) -> tuple[bytes, list[str]]:
    problems = []
    if raw.endswith(b"\r"):
        raw = raw[:-1]  # CRLF line ends are ordinary, not a problem
    if len(raw) > MAX_LINE:
        problems.append(f"line longer than {MAX_LINE} bytes, cut")
        raw = raw[:MAX_LINE]
    if any(b in raw for b in _SPECIAL):
        problems.append("line holds NUL, \\x01 or carriage-return bytes (kept as \\xNN escapes)")
        raw = raw.replace(b"\x00", b"\\x00").replace(b"\x01", b"\\x01").replace(b"\r", b"\\r")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        problems.append("line holds bytes that are not UTF-8 (kept as \\xNN escapes)")
        raw = raw.decode("utf-8", errors="backslashreplace").encode("utf-8")
    return raw, problems


def _write_clean_copy(ctx: ParseContext, src: Path, dst: Path) -> None:
    """Line by line (this path only runs for files with bad bytes): each line at most MAX_LINE
    bytes in memory; the rest of a longer line is skipped with a warning."""
    line_no = 0
    with open(src, "rb") as f, open(dst, "wb") as out:
        while True:
            raw = f.readline(MAX_LINE + 1)
            if not raw:
                return
            line_no += 1
            ended = raw.endswith(b"\n")
            raw = raw[:-1] if ended else raw
            skipped = 0
            while not ended and len(raw) + skipped >= MAX_LINE:  # an overlong line: skip its rest
                more = f.readline(CHUNK)
                if not more:
                    break
                ended = more.endswith(b"\n")
                skipped += len(more) - (1 if ended else 0)
            fixed, problems = _clean_line(raw)
            if skipped:
                problems.append(f"line longer than {MAX_LINE} bytes: {skipped} bytes after that skipped")
            for reason in problems:
                ctx.warn(f"line:{line_no}", reason, raw[:240])
            out.write(fixed + b"\n")


def open_lines(ctx: ParseContext) -> Lines:
    """The evidence file's lines, numbered as in the file. Use as a context manager."""
    path = Path(ctx.local_path)
    if path.stat().st_size == 0:
        return Lines("(SELECT NULL::BIGINT AS line_no, NULL::VARCHAR AS line WHERE false)")
    if _file_is_clean(path):
        return Lines(read_lines_sql(path))
    cleaned = ctx.scratch_path(".lines")
    _write_clean_copy(ctx, path, cleaned)
    return Lines(read_lines_sql(cleaned), cleaned)
