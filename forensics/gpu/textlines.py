"""Reading a text file as numbered lines in DuckDB (for parsers that work line by line in SQL)."""

from __future__ import annotations

import codecs
from pathlib import Path

from forensics.context import ParseContext

# A delimiter no text line contains, so each line is one column, bytes and all.
_NO_DELIMITER = "chr(30)||chr(31)||chr(30)||chr(31)"


def is_utf8(path: str | Path, chunk: int = 1 << 20) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")()
    with open(path, "rb") as handle:
        while True:
            block = handle.read(chunk)
            try:
                decoder.decode(block, final=not block)
            except UnicodeDecodeError:
                return False
            if not block:
                return True


def lines_relation_sql(ctx: ParseContext, warn: bool = True) -> str:
    """SQL giving (n, line) for every line of the evidence file, n counting from 1.

    Blank lines are kept (as NULL) so numbers match the file. A file that is not UTF-8 is read as
    Latin-1 (every byte kept) with a warning."""
    encoding = ""
    if not is_utf8(ctx.local_path):
        encoding = ", encoding='latin-1'"
        if warn:
            ctx.warn(None, "file is not valid UTF-8: read as Latin-1 so that no byte is lost")
    return (f"SELECT row_number() OVER () AS n, line FROM read_csv({ctx.sql_path}, "
            f"columns={{'line': 'VARCHAR'}}, delim={_NO_DELIMITER}, quote='', escape='', header=false, "
            f"auto_detect=false{encoding})")


def read_text_lines(ctx: ParseContext) -> list[str]:
    """The whole file as text lines (for small formats parsed in Python)."""
    raw = ctx.local_path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        ctx.warn(None, "file is not valid UTF-8: undecodable bytes replaced")
        text = raw.decode("utf-8", errors="replace")
    return text.splitlines()


__all__ = ["is_utf8", "lines_relation_sql", "read_text_lines"]
