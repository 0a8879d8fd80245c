"""AWS VPC Flow Logs as text (S3 ``.log.gz`` objects, CloudWatch exports), and Alibaba VPC flow
logs written the same way: space-separated fields, ``-`` where a field does not apply.

The default (v2) format has 14 fields; custom formats (v3-v8 fields: vpc/subnet/instance ids,
``tcp-flags``, ``pkt-srcaddr``, ``flow-direction``, ECS task fields, ``reject-reason`` ...) take
their column order from the header line S3 objects start with, and a header may appear again
before any record (files concatenated). Header-less records are read by the documented order
when they have 14, 21, 25, 29, 39 or 40 fields. The version column does not give the order (AWS
says so), so it is never used for that. Mapping to ``net_events``: see
:mod:`forensics.firewall.flowlog`.

A file is first surveyed (:mod:`forensics.firewall.textlines`, one compiled pass over its bytes):
when DuckDB's own line reader numbers its lines exactly, the whole file goes into ``net_events``
in one ``INSERT ... SELECT`` over ``read_csv`` (no Python per record or per block); otherwise
(carriage returns, bytes that are not UTF-8, indented or very long lines) blocks of lines are
numbered in Python and each goes through the same SQL. Both give the same rows and warnings.
"""

from __future__ import annotations

import re

from forensics.context import ParseContext
from forensics.firewall.flowlog import AWS_ORDER, KNOWN_FIELDS, KNOWN_WIDTHS, canonical, record_select
from forensics.firewall.jsonlines import TEXT, iter_line_tables
from forensics.firewall.sink import NetEventWriter, memory_budget
from forensics.firewall.textlines import lines_sql, survey_lines
from forensics.registry import Parser, Sniff, register

NAME = "aws_vpcflow"
EPOCH = re.compile(r"^\d{9,11}$")


def _is_header(tokens: list[str]) -> bool:
    return sum(canonical(t) in KNOWN_FIELDS for t in tokens) >= max(3, len(tokens) // 2)


def _looks_like_record(tokens: list[str]) -> bool:
    if len(tokens) not in KNOWN_WIDTHS or not tokens[0].isdigit():
        return False
    return bool(EPOCH.match(tokens[10]) and EPOCH.match(tokens[11])) and tokens[12] in ("ACCEPT", "REJECT", "-") \
        and tokens[13] in ("OK", "NODATA", "SKIPDATA")


def sniff(s: Sniff) -> float:
    lines = s.first_nonblank_lines[:20]
    if not lines:
        return 0.0
    first = lines[0].split()
    if _is_header(first) and {"srcaddr", "dstaddr"} <= {canonical(t) for t in first}:
        return 0.95
    records = sum(_looks_like_record(line.split()) for line in lines)
    if records and records * 2 >= len(lines):
        return 0.9
    return 0.0


def parse(ctx: ParseContext) -> None:
    writer = NetEventWriter(ctx, NAME, family=(NAME,))
    survey = survey_lines(ctx.local_path)
    with memory_budget(ctx):
        if survey.exact:
            _load_whole(ctx, writer, survey)
        else:
            _load_blocks(ctx, writer)
        writer.deduplicate()
    lost = ctx.con.execute("SELECT count(*) FROM net_events WHERE evidence_id = ? AND label = 'SKIPDATA'",
                           [ctx.evidence_id]).fetchall()[0][0]
    if lost:
        ctx.warn(None, f"{lost} SKIPDATA record(s): the flow log lost records in those windows "
                 "(missing flows there are not evidence of no traffic)")


def _layouts(ctx: ParseContext, heads: list[tuple[int, str]], header: list[str] | None, first: int,
             last: int) -> tuple[list[tuple[int, int, list[str] | None]], list[int], list[str] | None]:
    """Segments [lo, hi) of lines first..last read under one header (or none), given the lines
    starting with a letter (headers, or junk that is warned about): the segments, the numbers of
    those lines, and the header in force after the last line."""
    bounds: list[tuple[int, int, list[str] | None]] = []
    skipped: list[int] = []
    start, current = first, header
    for line, text in heads:
        tokens = text.split()
        skipped.append(line)
        if line > start:
            bounds.append((start, line, current))
        start = line + 1
        if not _is_header(tokens):
            ctx.warn(f"line:{line}", "not a flow-log record or header", text)
            continue
        current = [canonical(t) for t in tokens]
    bounds.append((start, last + 1, current))
    return [b for b in bounds if b[1] > b[0]], skipped, current


def _layout_sql(bounds: list[tuple[int, int, list[str] | None]]) -> tuple[dict[str, str], str]:
    """Field expressions over ``f`` (the split record) and the width problem, for records whose
    layout depends on the segment their line falls in."""
    def by_segment(values: list[str]) -> str:
        if len(set(values)) == 1:
            return values[0]
        arms = " ".join(f"WHEN line < {hi} THEN {v}" for (_, hi, _), v in zip(bounds[:-1], values[:-1]))
        return f"CASE {arms} ELSE {values[-1]} END"

    orders = [AWS_ORDER if fields is None else tuple(fields) for _, _, fields in bounds]
    names: list[str] = []
    for order in orders:
        names += [n for n in order if n not in names]
    columns = {}
    for name in names:
        positions = [str(order.index(name) + 1) if name in order else "NULL" for order in orders]
        columns[name] = f"nullif(f[{by_segment(positions)}], '-')"
    checks = []
    for _, _, fields in bounds:
        if fields is None:
            checks.append(f"CASE WHEN len(f) NOT IN ({', '.join(str(w) for w in KNOWN_WIDTHS)}) THEN "
                          "'record with ' || len(f) || ' fields and no header line to name them' END")
        else:
            checks.append(f"CASE WHEN len(f) <> {len(fields)} THEN "
                          f"'record with ' || len(f) || ' fields, the header has {len(fields)}' END")
    return columns, by_segment(checks)


def _load_whole(ctx: ParseContext, writer: NetEventWriter, survey) -> None:
    """The file in one INSERT over DuckDB's own reading of it: line numbers from ``row_number``
    (exact: see :mod:`forensics.firewall.textlines`), headers and junk lines left out by number,
    rejected records looked for only when fewer rows went in than the file has records."""
    bounds, skipped, _ = _layouts(ctx, survey.letter_lines, None, 1, survey.lines)
    if not bounds or not survey.records:
        return
    columns, width_problem = _layout_sql(bounds)
    select = record_select(columns, "'line:' || line", "t", pre_problem=width_problem)
    leave_out = f" AND line NOT IN ({', '.join(str(n) for n in skipped)})" if skipped else ""
    # no line starts with white space (surveyed); trimming costs more than splitting, so only
    # when some line ends with it
    text = "trim(text)" if survey.trailing_space else "text"
    records = f"""
        WITH r AS (SELECT line, {text} AS t, string_split({text}, ' ') AS f FROM {lines_sql(ctx.local_path)}
                   WHERE text <> ''{leave_out})
        {select.replace('WITH typed AS', ', typed AS', 1)}"""
    inserted = writer.insert_now(f"SELECT * EXCLUDE (problem, text) FROM ({records}) WHERE problem IS NULL",
                                 host_from_addresses=True)
    if inserted < survey.records:
        ctx.warn_many(f"SELECT locator, problem AS reason, text AS excerpt FROM ({records}) "
                      "WHERE problem IS NOT NULL")
    ctx.advance(ctx.local_path.stat().st_size)


def _load_blocks(ctx: ParseContext, writer: NetEventWriter) -> None:
    """Files DuckDB cannot number by itself (carriage returns, bytes that are not UTF-8, very
    long lines, indented lines): blocks of lines numbered here, each block through SQL."""
    con = ctx.con
    header: list[str] | None = None
    with ctx.open() as handle:
        for table, nread in iter_line_tables(handle):
            # no temporary tables: in the file's one transaction every replaced one would be kept
            _vpc_lines = table  # noqa: F841  (read by name)
            block = f"(SELECT line, trim({TEXT}) AS t FROM _vpc_lines)"
            heads = con.execute(f"SELECT line, t FROM {block} WHERE regexp_matches(t, '^[A-Za-z$]') "
                                "ORDER BY line").fetchall()
            first = con.execute(f"SELECT min(line), max(line) FROM {block}").fetchall()[0]
            if first[0] is None:
                continue
            bounds, _, header = _layouts(ctx, heads, header, first[0], first[1])
            for lo, hi, fields in bounds:
                _load_segment(ctx, writer, _vpc_lines, block, lo, hi, fields)
            ctx.advance(nread)


def _load_segment(ctx: ParseContext, writer: NetEventWriter, _vpc_lines, block: str, lo: int, hi: int,
                  fields: list[str] | None) -> None:
    """Records [lo, hi) of the block ``_vpc_lines`` (an Arrow table, read by name) under one layout."""
    con = ctx.con
    if fields is None:
        order = AWS_ORDER
        width_check = f"len(f) NOT IN ({', '.join(str(w) for w in KNOWN_WIDTHS)})"
        width_reason = "'record with ' || len(f) || ' fields and no header line to name them'"
    else:
        order = tuple(fields)
        width_check = f"len(f) <> {len(fields)}"
        width_reason = f"'record with ' || len(f) || ' fields, the header has {len(fields)}'"
    columns = {}
    for i, name in enumerate(order, start=1):
        if name not in columns:
            columns[name] = f"nullif(f[{i}], '-')"
    select = record_select(columns, "'line:' || line", "t",
                           pre_problem=f"CASE WHEN {width_check} THEN {width_reason} END")
    staged = con.sql(f"""
        WITH r AS (SELECT line, t, string_split(t, ' ') AS f FROM {block} WHERE line >= {lo} AND line < {hi}
                   AND NOT regexp_matches(t, '^[A-Za-z$]'))
        {select.replace('WITH typed AS', ', typed AS', 1)}
    """).to_arrow_table()
    _vpc_staged = staged  # noqa: F841  (read by name)
    ctx.warn_many(con.sql("SELECT locator, problem AS reason, text AS excerpt FROM _vpc_staged WHERE problem IS NOT NULL").to_arrow_table())
    good = con.sql("SELECT * EXCLUDE (problem, text) FROM _vpc_staged WHERE problem IS NULL").to_arrow_table()
    if good.num_rows:
        writer.insert(good, host_from_addresses=True)


register(Parser(
    name=NAME,
    description="AWS VPC Flow Logs text (default v2 and custom v3-v8 formats, header lines) and Alibaba VPC flow logs as text",
    tables=("net_events",),
    sniff=sniff,
    parse=parse,
    version="1",
    extensions=(".log", ".log.gz"),
))
