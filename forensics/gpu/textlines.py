"""Reading a text file as numbered lines in DuckDB (for parsers that work line by line in SQL)."""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from forensics.context import ParseContext

# A delimiter no text line contains, so each line is one column, bytes and all.
_NO_DELIMITER = "chr(30)||chr(31)||chr(30)||chr(31)"


@dataclass
class TextScan:
    """What a CSV reader needs to know about a text file before it tokenises it."""

    utf8: bool = True
    line_end: str | None = None  # "lf", "crlf", "mixed" (lone or missing carriage returns), None (no newline)
    blank_lines: list[int] = field(default_factory=list)  # numbers of empty lines, from 1


def scan_text(path: str | Path, chunk: int = 1 << 20) -> TextScan:
    """One pass over the bytes: UTF-8 or not, line-end style, and where the empty lines are.

    ASCII blocks skip the decoder and newlines are found by numpy over whole blocks: the pass
    costs a small fraction of reading the file into DuckDB."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    scan = TextScan()
    newlines = carriage = crlf = 0
    last_newline = -1  # where the previous newline is, relative to the block (a virtual one before the file)
    last_byte = 10  # the previous block's last byte
    with open(path, "rb") as handle:
        while True:
            block = handle.read(chunk)
            if scan.utf8 and (not block or not block.isascii()):
                try:
                    decoder.decode(block, final=not block)
                except UnicodeDecodeError:
                    scan.utf8 = False
            if not block:
                break
            data = np.frombuffer(block, dtype=np.uint8)
            ends = np.flatnonzero(data == 10)
            if carriage or b"\r" in block:
                carriage += block.count(b"\r")
                before = data[np.maximum(ends - 1, 0)]
                if len(ends) and ends[0] == 0:
                    before[0] = last_byte
                crlf += int(np.count_nonzero(before == 13))
            # An empty line: a newline right after a newline, or "\r\n" right after one.
            if len(ends):
                previous = np.concatenate(([last_newline], ends[:-1]))
                gap = ends - previous
                empty = gap == 1
                two = np.flatnonzero(gap == 2)
                if len(two):
                    after = previous[two] + 1  # the byte after the previous newline: -1 is the last block's
                    byte = np.where(after >= 0, data[np.maximum(after, 0)], last_byte)
                    empty[two[byte == 13]] = True
                for index in np.flatnonzero(empty):
                    scan.blank_lines.append(newlines + int(index) + 1)
                last_newline = int(ends[-1]) - len(block)
            else:
                last_newline -= len(block)
            newlines += len(ends)
            last_byte = int(data[-1])
    if carriage == 0:
        scan.line_end = "lf" if newlines else None
    else:
        scan.line_end = "crlf" if carriage == crlf == newlines else "mixed"
    return scan


def lines_relation_sql(ctx: ParseContext, warn: bool = True, scan: TextScan | None = None) -> str:
    """SQL giving (n, line) for every line of the evidence file, n counting from 1.

    Blank lines are kept (as NULL) so numbers match the file. A file that is not UTF-8 is read as
    Latin-1 (every byte kept) with a warning. ``scan`` is a scan of the file already made, if any
    (one pass over the bytes gives both the encoding and the line ends)."""
    scan = scan or scan_text(ctx.local_path)
    encoding = ""
    if not scan.utf8:
        encoding = ", encoding='latin-1'"
        if warn:
            ctx.warn(None, "file is not valid UTF-8: read as Latin-1 so that no byte is lost")
    elif scan.line_end == "mixed":
        # DuckDB's line reader refuses a carriage return that ends no line; lines are cut at
        # newlines only (a CR before one is dropped, one anywhere else stays in the line)
        ctx.warn(None, "mixed line ends: lines are cut at newlines; a carriage return before one is "
                       "dropped, any other is kept in its line")
        return (f"SELECT row_number() OVER () AS n, nullif(l, '') AS line FROM ("
                f"SELECT unnest(string_split(CASE WHEN ends_with(t, chr(10)) THEN t[:-2] ELSE t END, chr(10))) AS l "
                f"FROM (SELECT replace(content, chr(13) || chr(10), chr(10)) AS t "
                f"FROM read_text({ctx.sql_path})))")
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


__all__ = ["TextScan", "lines_relation_sql", "read_text_lines", "scan_text"]
