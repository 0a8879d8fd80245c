"""Streaming JSON lines into DuckDB with bounded memory.

The file is read in blocks of whole lines; numpy finds the newlines and each block becomes an
Arrow table ``(line_no BIGINT, line VARCHAR)`` over the block's own bytes, without a Python
object per line. The JSON work (``from_json`` into typed structs, unnesting messages and tool
calls) is SQL that DuckDB runs over each block. Lines longer than the limit are skipped while
reading (never held in memory) and reported; a block that is not valid UTF-8 has its bad lines
decoded with replacement characters and reported; lines that are not valid JSON are reported by
the parser's SQL.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import numpy as np
import pyarrow as pa

DEFAULT_MAX_LINE = 256 * 1024 * 1024
BATCH_BYTES = 64 * 1024 * 1024
BATCH_LINES = 50_000
# rows per Arrow record batch: DuckDB's threads share a scan by record batches, so a block of a few
# thousand long lines is split to keep both cores busy
CHUNK_ROWS = 1024
READ_CHUNK = 8 * 1024 * 1024
UTF8_WARNINGS = 1000


def _max_line(ctx: Any, max_line: int | None) -> int:
    if max_line is not None:
        return max_line
    return int(float(ctx.options.get("agent.max_line_mb", DEFAULT_MAX_LINE / 2**20)) * 2**20)


def _too_long(ctx: Any, line_no: int, nbytes: int, max_line: int, excerpt: bytes | None) -> None:
    ctx.warn(f"line:{line_no}", f"line of {nbytes} bytes is longer than the {max_line // 2**20} MiB limit "
             "(agent.max_line_mb); skipped", excerpt)


def iter_blocks(ctx: Any, max_line: int, batch_bytes: int = BATCH_BYTES) -> Iterator[tuple[bytes, int]]:
    """(block, number of its first line): blocks of whole lines, each ending in a newline (the last
    one may not). Over-long lines are dropped with a warning; their line numbers are kept."""
    line_no = 1  # number of the first line in ``pending``
    pending = bytearray()
    skipping = 0  # bytes of an over-long line seen so far (0: not skipping)
    with ctx.open() as handle:
        while True:
            chunk = handle.read(READ_CHUNK if skipping else max(READ_CHUNK, batch_bytes - len(pending)))
            if not chunk:
                break
            ctx.advance(len(chunk))
            start = 0
            if skipping:
                end = chunk.find(b"\n")
                if end < 0:
                    skipping += len(chunk)
                    continue
                _too_long(ctx, line_no, skipping + end, max_line, None)
                skipping = 0
                line_no += 1
                start = end + 1
            last = chunk.rfind(b"\n", start)
            if last < 0:
                pending += chunk[start:] if start else chunk
                if len(pending) > max_line:
                    skipping = len(pending)
                    pending = bytearray()
                continue
            pending += memoryview(chunk)[start:last + 1]
            block = bytes(pending)
            pending = bytearray(memoryview(chunk)[last + 1:])
            yield block, line_no
            line_no += block.count(b"\n")
            if len(pending) > max_line:
                skipping = len(pending)
                pending = bytearray()
    if skipping:
        _too_long(ctx, line_no, skipping, max_line, None)
    elif pending:
        yield bytes(pending), line_no


def lines_table(ctx: Any, block: bytes, first_line: int, max_line: int,
                utf8_warned: list[int] | None = None) -> pa.Table:
    """The non-blank lines of ``block`` as an Arrow table (line_no, line) sharing the block's bytes."""
    a = np.frombuffer(block, dtype=np.uint8)
    newlines = np.flatnonzero(a == 10)
    if not len(newlines) or newlines[-1] != len(a) - 1:
        newlines = np.append(newlines, len(a))  # a last line without its newline
    starts = np.empty(len(newlines), dtype=np.int64)
    starts[0] = 0
    starts[1:] = newlines[:-1] + 1
    ends = newlines.astype(np.int64)
    # a trailing \r is JSON whitespace; only an empty line (or a lone \r) is dropped
    lengths = ends - starts
    keep = (lengths > 1) | ((lengths == 1) & (a[np.minimum(starts, len(a) - 1)] != 13))
    numbers = np.arange(first_line, first_line + len(newlines), dtype=np.int64)
    long_lines = np.flatnonzero(lengths > max_line)
    for i in long_lines:
        _too_long(ctx, int(numbers[i]), int(lengths[i]), max_line, block[starts[i]:starts[i] + 200])
        keep[i] = False
    offsets = np.empty(len(newlines) + 1, dtype=np.int64)
    # each string runs up to the next line's start, its newline included (JSON whitespace):
    # Arrow strings are contiguous, and the block's bytes are shared, not copied
    offsets[:-1] = starts
    offsets[-1] = len(a)
    text = pa.LargeStringArray.from_buffers(len(newlines), pa.py_buffer(offsets.tobytes()), pa.py_buffer(block))
    try:
        text.validate(full=True)
    except pa.ArrowInvalid:
        text = _replace_bad_utf8(ctx, block, starts, ends, numbers, utf8_warned)
    table = pa.table({"line_no": numbers, "line": text})
    if not keep.all():
        table = table.filter(pa.array(keep))
    return table


def _replace_bad_utf8(ctx: Any, block: bytes, starts: np.ndarray, ends: np.ndarray, numbers: np.ndarray,
                      warned: list[int] | None) -> pa.LargeStringArray:
    texts = []
    for s, e, n in zip(starts.tolist(), ends.tolist(), numbers.tolist()):
        raw = block[s:e]
        try:
            texts.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            texts.append(raw.decode("utf-8", "replace"))
            if warned is not None:
                warned[0] += 1
                if warned[0] > UTF8_WARNINGS:
                    continue
            ctx.warn(f"line:{n}", "non-UTF-8 bytes replaced with U+FFFD", raw[:120])
    return pa.array(texts, type=pa.large_string())


def iter_line_batches(ctx: Any, max_line: int | None = None, batch_bytes: int = BATCH_BYTES,
                      batch_lines: int = BATCH_LINES) -> Iterator[pa.Table]:
    """Arrow tables of (line_no BIGINT, line VARCHAR) over the evidence file, blank lines dropped.
    ``batch_lines`` bounds the lines of one table (a block of many short lines is cut)."""
    limit = _max_line(ctx, max_line)
    warned = [0]
    for block, first_line in iter_blocks(ctx, limit, batch_bytes):
        table = lines_table(ctx, block, first_line, limit, warned)
        for offset in range(0, max(table.num_rows, 1), batch_lines):
            part = table.slice(offset, batch_lines)
            if part.num_rows:
                yield pa.Table.from_batches(part.to_batches(max_chunksize=CHUNK_ROWS))


def run_batches(ctx: Any, per_batch: Callable[[str], None], **kw: Any) -> int:
    """Register each batch as ``_lines`` (line_no, line) and call ``per_batch('_lines')``.
    Returns the number of lines seen. The parser reports lines its SQL could not read with
    :func:`collect_invalid`; they are written as warnings once, at the end of the file."""
    seen = 0
    ctx.con.execute(f"CREATE OR REPLACE TEMP TABLE {INVALID} (locator VARCHAR, reason VARCHAR, excerpt VARCHAR)").fetchall()
    try:
        for table in iter_line_batches(ctx, **kw):
            seen += table.num_rows
            ctx.con.register("_lines", table)
            try:
                per_batch("_lines")
            finally:
                ctx.con.unregister("_lines")
        if ctx.con.execute(f"SELECT count(*) FROM {INVALID}").fetchall()[0][0]:
            ctx.warn_many(f"SELECT * FROM {INVALID}")
    finally:
        ctx.con.execute(f"DROP TABLE IF EXISTS {INVALID}").fetchall()
    return seen


INVALID = "_jsonl_invalid"


def collect_invalid(ctx: Any, table: str, parsed_ok: str = "json_valid(line)") -> None:
    """Note the lines of ``table`` that are not JSON objects (reported when the file is done);
    ``parsed_ok`` says which lines are fine (evaluated first, so valid lines cost nothing more)."""
    ctx.con.execute(f"""INSERT INTO {INVALID}
        SELECT 'line:' || line_no AS locator,
               CASE WHEN json_valid(line) THEN 'JSON line is not an object'
                    ELSE 'truncated or invalid JSON line' END AS reason,
               left(rtrim(line, chr(10) || chr(13)), 200) AS excerpt
        FROM {table}
        -- a CASE, so that the costly tests run only on the lines that did not parse
        WHERE CASE WHEN coalesce({parsed_ok}, false) THEN false
                   ELSE trim(line, ' ' || chr(9) || chr(10) || chr(13)) <> '' END""").fetchall()
