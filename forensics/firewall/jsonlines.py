"""JSON lines with their line numbers, in bounded blocks, for SQL over each block.

DuckDB's ``read_json`` is fast but does not say which line a record came from, and a locator must.
Here the file is cut into blocks of whole lines (numpy finds the newlines), each block becomes an
Arrow table ``(line BIGINT, text VARCHAR)`` without copying, and the parser queries it with
DuckDB's JSON functions. Lines that are not UTF-8 are decoded with replacement characters (and
reported by the parser, since they will not be valid JSON or will carry U+FFFD).
"""

from __future__ import annotations

from typing import IO, Iterator

import numpy as np
import pyarrow as pa

from .netfilter import iter_line_blocks, line_bounds


def lines_table(block: bytes, first_line: int) -> pa.Table:
    """The non-blank lines of a block (ending in a newline) as (line, text)."""
    _, starts, ends = line_bounds(block)
    keep = ends > starts
    line_numbers = np.arange(first_line, first_line + len(starts), dtype=np.int64)
    try:
        block.decode("utf-8")
        valid = True
    except UnicodeDecodeError:
        valid = False
    if valid:
        offsets = np.empty(len(starts) + 1, dtype=np.int64)
        offsets[:-1] = starts
        offsets[-1] = len(block)
        # each string runs to the next line's start; the newline is trimmed in SQL
        text = pa.LargeStringArray.from_buffers(len(starts), pa.py_buffer(offsets.tobytes()), pa.py_buffer(block))
        table = pa.table({"line": line_numbers, "text": text})
        return table.filter(pa.array(keep))
    texts = [block[s:e].decode("utf-8", errors="replace") for s, e, k in zip(starts, ends, keep) if k]
    return pa.table({"line": line_numbers[keep], "text": pa.array(texts, type=pa.large_string())})


def iter_line_tables(handle: IO[bytes], block_size: int = 16 << 20) -> Iterator[tuple[pa.Table, int]]:
    for block, first_line, nread in iter_line_blocks(handle, block_size):
        yield lines_table(block, first_line), nread


# A line of the table as SQL text, without its line ending.
TEXT = "rtrim(text, chr(13) || chr(10))"
