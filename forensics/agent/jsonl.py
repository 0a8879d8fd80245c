"""Streaming JSON lines into DuckDB with bounded memory.

Lines are read in chunks and handed to DuckDB in Arrow batches of (line_no, line); the JSON work
(extracting fields, unnesting messages and tool calls) is SQL that DuckDB runs over each batch.
Lines longer than the limit are skipped while reading (never held in memory) and reported;
non-UTF-8 bytes are replaced and reported; lines that are not valid JSON are reported by SQL.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import pyarrow as pa

DEFAULT_MAX_LINE = 256 * 1024 * 1024
BATCH_BYTES = 64 * 1024 * 1024
BATCH_LINES = 20_000
READ_CHUNK = 8 * 1024 * 1024


def iter_line_batches(ctx: Any, max_line: int | None = None, batch_bytes: int = BATCH_BYTES,
                      batch_lines: int = BATCH_LINES) -> Iterator[pa.Table]:
    """Arrow tables of (line_no BIGINT, line VARCHAR) over the evidence file, blank lines dropped."""
    if max_line is None:
        max_line = int(float(ctx.options.get("agent.max_line_mb", DEFAULT_MAX_LINE / 2**20)) * 2**20)
    numbers: list[int] = []
    lines: list[str] = []
    size = 0
    line_no = 0
    bad_utf8 = 0
    with ctx.open() as handle:
        pending = b""
        skipping = False  # inside an over-long line
        skipped_from = 0
        skipped_bytes = 0
        while True:
            chunk = handle.read(READ_CHUNK)
            if not chunk:
                break
            ctx.advance(len(chunk))
            start = 0
            while True:
                end = chunk.find(b"\n", start)
                if end < 0:
                    rest = chunk[start:]
                    if skipping:
                        skipped_bytes += len(rest)
                    elif len(pending) + len(rest) > max_line:
                        skipping, skipped_from = True, line_no + 1
                        skipped_bytes = len(pending) + len(rest)
                        pending = b""
                    else:
                        pending += rest
                    break
                piece = chunk[start:end]
                start = end + 1
                line_no += 1
                if skipping:
                    skipped_bytes += len(piece)
                    ctx.warn(f"line:{skipped_from}", f"line of {skipped_bytes} bytes is longer than the "
                             f"{max_line // 2**20} MiB limit (agent.max_line_mb); skipped", None)
                    skipping = False
                    continue
                raw = pending + piece if pending else piece
                pending = b""
                if len(raw) > max_line:
                    ctx.warn(f"line:{line_no}", f"line of {len(raw)} bytes is longer than the "
                             f"{max_line // 2**20} MiB limit (agent.max_line_mb); skipped", raw[:200])
                    continue
                if not raw.strip():
                    continue
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError:
                    text = raw.decode("utf-8", "replace")
                    bad_utf8 += 1
                    if bad_utf8 <= 1000:
                        ctx.warn(f"line:{line_no}", "non-UTF-8 bytes replaced with U+FFFD", raw[:120])
                numbers.append(line_no)
                lines.append(text)
                size += len(raw)
                if size >= batch_bytes or len(lines) >= batch_lines:
                    yield pa.table({"line_no": pa.array(numbers, pa.int64()), "line": pa.array(lines, pa.string())})
                    numbers, lines, size = [], [], 0
        if skipping:
            ctx.warn(f"line:{skipped_from}", f"last line of {skipped_bytes} bytes is longer than the "
                     f"{max_line // 2**20} MiB limit (agent.max_line_mb); skipped", None)
        elif pending.strip():
            line_no += 1
            try:
                text = pending.decode("utf-8")
            except UnicodeDecodeError:
                text = pending.decode("utf-8", "replace")
                ctx.warn(f"line:{line_no}", "non-UTF-8 bytes replaced with U+FFFD", pending[:120])
            numbers.append(line_no)
            lines.append(text)
    if lines:
        yield pa.table({"line_no": pa.array(numbers, pa.int64()), "line": pa.array(lines, pa.string())})


def run_batches(ctx: Any, per_batch: Callable[[str], None], **kw: Any) -> int:
    """Register each batch as view ``_lines`` and call ``per_batch('_lines')``; invalid JSON lines
    are reported. Returns the number of lines seen."""
    seen = 0
    for table in iter_line_batches(ctx, **kw):
        seen += table.num_rows
        # a temp table, not a registered Arrow object: ctx.insert builds views over the SQL it gets
        ctx.con.register("_lines_arrow", table)
        ctx.con.execute("CREATE OR REPLACE TEMP TABLE _lines AS SELECT * FROM _lines_arrow")
        ctx.con.unregister("_lines_arrow")
        try:
            ctx.warn_many("""SELECT 'line:' || line_no AS locator,
                                    CASE WHEN json_valid(line) THEN 'JSON line is not an object'
                                         ELSE 'truncated or invalid JSON line' END AS reason,
                                    left(line, 200) AS excerpt
                             FROM _lines
                             WHERE CASE WHEN json_valid(line) THEN json_type(line::JSON) <> 'OBJECT' ELSE true END""")
            per_batch("_lines")
        finally:
            ctx.con.execute("DROP TABLE IF EXISTS _lines")
    return seen
