"""nvidia-smi output: ``--query-*`` CSV, ``pmon``/``dmon`` text, ``-q -x`` XML and ``-L``.

CSV queries are loaded in SQL (they reach millions of rows when looped with ``-l``); the others
are small and read in Python. Columns are found by their header names, never by position.
nvidia-smi writes local time without a zone: stamps are converted with the file's time-zone
hint and marked ``ts_inferred``.
"""

from __future__ import annotations

import contextlib
import json
import re
import uuid as uuid_module
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable

from forensics.context import ParseContext, sql_string
from forensics.membudget import budget as memory_budget

from .fields import SMI_QUERY_GPU
from .writer import GpuWriter, zone_sql

UNIT = re.compile(r"\s*\[[^\]]*\]\s*$")
NO_VALUE = {"", "N/A", "[N/A]", "-", "Not Supported", "[Not Supported]"}

CSV_KINDS = ("gpu", "compute-apps", "accounted-apps", "retired-pages")


def field_name(header_cell: str) -> str:
    """``memory.used [MiB]`` -> ``memory.used``."""
    return UNIT.sub("", header_cell.strip()).strip().lower()


def split_header(line: str) -> list[str]:
    return [cell.strip() for cell in line.split(",")]


def csv_kind(fields: list[str]) -> str | None:
    """Which ``--query-*`` produced a CSV with these (unit-less, lower-case) header fields."""
    names = set(fields)
    if any(f.startswith("retired_pages.") for f in names) and "pid" not in names:
        return "retired-pages"
    if "pid" in names and names & {"gpu_util", "gpu_utilization", "max_memory_usage", "time", "mem_util",
                                   "mem_utilization"}:
        return "accounted-apps"
    if "pid" in names and names & {"process_name", "name", "used_gpu_memory", "used_memory"}:
        return "compute-apps"
    if names & {"uuid", "pci.bus_id", "index"} and len(names & set(SMI_QUERY_GPU) | names & {"timestamp"}) >= 2:
        return "gpu"
    return None


def _cell(position: int) -> str:
    """A cell of the row (trimmed, no-value markers as NULL), computed once per row below."""
    return f"smi_value(c{position + 1})"


def _raw(cell_sql: str) -> str:
    """The bare cell of ``smi_value(cN)`` (numbers need no no-value test: the cast fails on them)."""
    return cell_sql[len("smi_value("):-1] if cell_sql.startswith("smi_value(") else cell_sql


def _extra_sql(headers: list[str], used: set[int]) -> str:
    """JSON object of every cell not mapped to a column, by its header as written (units kept)."""
    # Built as text (concat_ws skips the empty cells): far cheaper per row than lists and maps.
    entries = [f"{sql_string(json.dumps(h) + ':')} || to_json({_cell(i)})" for i, h in enumerate(headers)
               if i not in used]
    if not entries:
        return "NULL::JSON"
    body = f"concat_ws(',', {', '.join(entries)})"
    return f"CASE WHEN {body} <> '' THEN ('{{' || {body} || '}}')::JSON END"


@dataclass
class CsvFile:
    """A file that is one ``--query-*`` CSV from its header to its end, for DuckDB's CSV reader."""

    sql_path: str  # the file as a SQL string literal
    encoding: str | None = None  # "latin-1" when the file is not UTF-8
    blank_lines: tuple[int, ...] = ()  # empty lines (the reader skips them without a word)
    size: int = 0  # bytes


@dataclass
class CsvSection:
    """One ``--query-*`` CSV: its header line and where its rows are."""

    header: str
    header_n: int
    lines_sql: str  # SQL giving (n, line)
    first_n: int | None = None  # rows are the lines with first_n <= n < end_n (None: to the end)
    end_n: int | None = None
    file: CsvFile | None = None  # the whole file is this CSV: tokenised by DuckDB's CSV reader


def load_query_csv(ctx: ParseContext, section: CsvSection, kind: str | None = None,
                   zone: str | None = None, host: str | None = None) -> tuple[str | None, int]:
    """Load one nvidia-smi ``--query-*`` CSV into gpu_samples, gpu_processes or gpu_events.

    Returns the kind and the number of rows. A row whose field count differs from the header's is
    a parse warning (never silently dropped)."""
    headers = split_header(section.header)
    fields = [field_name(h) for h in headers]
    kind = kind or csv_kind(fields)
    if kind is None:
        ctx.warn(f"line:{section.header_n}", "CSV header is not an nvidia-smi query this parser knows",
                 section.header)
        return None, 0
    position = {}
    for i, name in enumerate(fields):
        position.setdefault(name, i)

    def pick(*names: str) -> tuple[str, int | None]:
        for name in names:
            if name in position:
                return _cell(position[name]), position[name]
        return "NULL", None

    used: set[int] = set()

    def take(*names: str) -> str:
        expr, index = pick(*names)
        if index is not None:
            used.add(index)
        return expr

    zone_expr = sql_string(zone) if zone else zone_sql(ctx)
    ts_cell = take("timestamp")
    host_expr = sql_string(host) if host else (sql_string(ctx.hints.host) if ctx.hints.host else "NULL")
    host_cell = take("hostname")
    common = {
        "ts": f"timezone({zone_expr}, smi_local_time({ts_cell}))",
        "ts_raw": ts_cell,
        "ts_inferred": "true",
        "host": f"coalesce({host_expr}, {host_cell})",
        "index_kind": "'nvml'",
        "source_format": sql_string(ctx.parser_name),
        "locator": "'line:' || n",
    }
    if kind == "gpu":
        table = "gpu_samples"
        cols = dict(common)
        cols["gpu_uuid"] = f"gpu_uuid_norm({take('uuid')})"
        cols["pci_bus_id"] = f"gpu_bus_id({_raw(take('pci.bus_id'))})"
        cols["gpu_index"] = f"TRY_CAST({take('index')} AS INTEGER)"
        cols["gpu_model"] = take("name", "gpu_name")
        targets: dict[str, list[str]] = {}
        for name, column in SMI_QUERY_GPU.items():
            if column in ("gpu_index", "gpu_uuid", "pci_bus_id", "gpu_model"):
                continue
            targets.setdefault(column, []).append(name)
        for column, names in targets.items():
            present = [n for n in names if n in position]
            if present:
                cols[column] = f"smi_number({_raw(take(present[0]))})"
        cols["labels"] = "NULL::JSON"
    elif kind == "compute-apps":
        table = "gpu_processes"
        cols = dict(common)
        cols.update({
            "gpu_uuid": f"gpu_uuid_norm({take('gpu_uuid')})",
            "pci_bus_id": f"gpu_bus_id({_raw(take('gpu_bus_id'))})",
            "pid": f"TRY_CAST({take('pid')} AS BIGINT)",
            "process_name": take("process_name", "name"),
            "process_type": "'C'",
            "record_kind": "'running'",
            "used_mib": f"smi_number({_raw(take('used_gpu_memory', 'used_memory'))})",
            "mig_instance": take("gpu_instance_id"),
        })
    elif kind == "accounted-apps":
        table = "gpu_processes"
        cols = dict(common)
        cols.update({
            "gpu_uuid": f"gpu_uuid_norm({take('gpu_uuid')})",
            "pci_bus_id": f"gpu_bus_id({_raw(take('gpu_bus_id'))})",
            "pid": f"TRY_CAST({take('pid')} AS BIGINT)",
            "process_name": "NULL",
            "record_kind": "'accounting'",
            "sm_util": f"smi_number({_raw(take('gpu_utilization', 'gpu_util'))})",
            "mem_util": f"smi_number({_raw(take('mem_utilization', 'mem_util'))})",
            "used_mib": f"smi_number({_raw(take('max_memory_usage'))})",
            "duration_ms": f"TRY_CAST(smi_number({_raw(take('time'))}) AS BIGINT)",
        })
    else:  # retired-pages: kept as device events
        table = "gpu_events"
        cols = dict(common)
        cols.update({
            "gpu_uuid": f"gpu_uuid_norm({take('gpu_uuid')})",
            "pci_bus_id": f"gpu_bus_id({_raw(take('gpu_bus_id'))})",
            "event": "'retired_page'",
            "detail": take("retired_pages.cause"),
        })
    if table != "gpu_events":
        # The GPU's name and serial on a process row are identity, kept as labels.
        identity = [i for i, f in enumerate(fields) if f in ("gpu_name", "gpu_serial")]
        if identity and table == "gpu_processes":
            entries = [f"{{'k': {sql_string(fields[i])}, 'v': {_cell(i)}}}" for i in identity]
            cols["labels"] = (f"to_json(map_from_entries(list_filter([{', '.join(entries)}], "
                              f"lambda e: e.v IS NOT NULL)))")
            used.update(identity)
        cols["extra"] = _extra_sql(headers, used)
    else:
        cols["detail"] = (f"concat_ws(' ', {cols['detail']}, 'address=' || {_cell(position['retired_pages.address'])})"
                          if "retired_pages.address" in position else cols["detail"])
    select = ", ".join(f"{expr} AS {name}" for name, expr in cols.items())
    sep = ", " if ", " in section.header else ","
    if section.file is not None and sep == ", " and section.end_n is None:
        count = _insert_read_csv(ctx, table, select, section, len(headers), list(cols))
    else:
        count = _insert_split_lines(ctx, table, select, section, len(headers), sep)
    if not zone and not ctx.hints.timezone and "timestamp" in position and count:
        ctx.warn(None, f"local time stamps without a time-zone hint were taken as UTC ({count} rows; "
                 "give --tz or an inventory timezone)")
    # Copied rows are possible only where one bus id has several indexes in the file: grouping
    # by bus id first is far cheaper than grouping every stamp.
    copied = f"""
            SELECT count(*) FROM (SELECT pci_bus_id FROM gpu_samples
                                  WHERE evidence_id = {int(ctx.evidence_id)} AND pci_bus_id IS NOT NULL
                                  GROUP BY ALL HAVING count(DISTINCT gpu_index) > 1)"""
    if kind == "gpu" and count and ctx.con.execute(copied).fetchall()[0][0]:
        ctx.warn_many(f"""
            SELECT min(locator) AS locator,
                   'GPUs ' || string_agg(DISTINCT gpu_index::VARCHAR, ', ' ORDER BY gpu_index::VARCHAR)
                   || ' report the same PCI bus id ' || pci_bus_id || ' at the same time (copied rows?)' AS reason,
                   ts_raw AS excerpt
            FROM gpu_samples WHERE evidence_id = {int(ctx.evidence_id)} AND pci_bus_id IS NOT NULL
              AND source_format = {sql_string(ctx.parser_name)}
            GROUP BY ts_raw, pci_bus_id HAVING count(DISTINCT gpu_index) > 1""")
    if kind == "gpu" and "timestamp" not in position:
        ctx.warn(f"line:{section.header_n}", "query-gpu CSV without a timestamp field: rows have no time")
    return kind, count


# Rejected-row records kept per file before the reader gives up on numbering rows itself.
REJECTS_LIMIT = 100_000
# DuckDB's memory limit while a file's rows are staged and inserted (option gpu_memory_limit):
# the staging table of a large file spills to the case's temporary folder beyond it.
STAGE_MEMORY_LIMIT = "1GB"
STAGE_MIN_BYTES = 64 << 20  # files from this size are staged (about 450,000 rows of --query-gpu)


def _bad_row_reason(fields_sql: str, n_fields: int) -> str:
    return (f"'nvidia-smi CSV row has ' || {fields_sql} || ' fields, the header has {n_fields}'")


def _insert_split_lines(ctx: ParseContext, table: str, select: str, section: CsvSection, n_fields: int,
                        sep: str) -> int:
    """Rows from numbered lines, split in SQL (capture sections, files with a bare "," or stray
    carriage returns). A row whose field count differs from the header's is a warning."""
    where = ["line IS NOT NULL", "trim(line) <> ''", f"trim(line) <> {sql_string(section.header.strip())}",
             "NOT starts_with(ltrim(line), '#')"]
    if section.first_n is not None:
        where.append(f"n >= {int(section.first_n)}")
    if section.end_n is not None:
        where.append(f"n < {int(section.end_n)}")
    base = f"SELECT n, line FROM ({section.lines_sql}) WHERE {' AND '.join(where)}"
    # Split each line once and compute each cell once (MATERIALIZED keeps the optimizer from
    # re-splitting the line for every reference to a cell).
    # nvidia-smi separates cells with ", ": splitting on it needs no trim (files re-saved with a
    # bare "," are split on that and trimmed).
    cell = (lambda i: f"f[{i + 1}]") if sep == ", " else (lambda i: f"trim(f[{i + 1}])")
    cells = ", ".join(f"{cell(i)} AS c{i + 1}" for i in range(n_fields))
    count = ctx.insert(table, f"""
        WITH split AS MATERIALIZED (SELECT n, string_split(rtrim(line), {sql_string(sep)}) AS f FROM ({base})),
             row_cells AS MATERIALIZED (SELECT n, {cells} FROM split WHERE len(f) = {n_fields})
        SELECT {select} FROM row_cells""")
    rows_in_file = ctx.con.execute(f"SELECT count(*) FROM ({base})").fetchall()[0][0]
    if rows_in_file != count:  # some rows have another field count than the header
        fields = f"len(string_split(line, {sql_string(sep)}))"
        ctx.warn_many(f"SELECT 'line:' || n AS locator, {_bad_row_reason(fields, n_fields)} AS reason, "
                      f"line AS excerpt FROM ({base}) WHERE {fields} <> {n_fields}")
    return count


def _insert_read_csv(ctx: ParseContext, table: str, select: str, section: CsvSection, n_fields: int,
                     names: list[str]) -> int:
    """Rows tokenised by DuckDB's CSV reader on the two-byte ", " delimiter: one pass, no line
    splitting in SQL.

    The reader has no row number: a row is numbered by its place among the rows the reader
    returns, counted from the header. Rows it rejects (another field count, an over-long line)
    are listed with their real line numbers, and the empty lines it skips silently were found
    by the scan before; when there are any, the rows after them are renumbered afterwards, so
    every locator is the row's line in the file. Comment lines and repeated headers are skipped
    as the line splitter skips them."""
    assert section.file is not None
    file = section.file
    headers = split_header(section.header)
    rejects = f"_smi_rejects_{uuid_module.uuid4().hex[:12]}"
    columns = ", ".join(f"'c{i + 1}': 'VARCHAR'" for i in range(n_fields))
    encoding = f", encoding={sql_string(file.encoding)}" if file.encoding else ""
    reader = (f"read_csv({file.sql_path}, delim=', ', header=false, skip={int(section.header_n)}, "
              f"columns={{{columns}}}, quote='', escape='', auto_detect=false, strict_mode=true, "
              f"ignore_errors=true, store_rejects=true, rejects_table='{rejects}', "
              f"rejects_scan='{rejects}_scan', rejects_limit={REJECTS_LIMIT}{encoding})")
    last = f"c{n_fields}"
    repeated_header = " AND ".join(f"c{i + 1} = {sql_string(h)}" for i, h in enumerate(headers))
    stage = f"_smi_stage_{uuid_module.uuid4().hex[:12]}"
    # A large file's rows go into a staging table first, in order (DuckDB preserves insertion
    # order), so that a row's place among them is its row id: the reader tokenises on all cores
    # and the conversions and the write afterwards run in parallel too. Numbering with
    # row_number() OVER () in the one statement holds all of it on one core, which costs less
    # for a small file (DuckDB works a row group, 122,880 rows, per thread anyway).
    staged = file.size >= STAGE_MIN_BYTES
    with memory_budget(ctx, "gpu_memory_limit", STAGE_MEMORY_LIMIT) if staged else contextlib.nullcontext():
        try:
            source = reader
            numbering = f"row_number() OVER () + {int(section.header_n)}"  # in the rows' order
            if staged:
                ctx.con.execute(f"CREATE TEMP TABLE {stage} AS SELECT * FROM {reader}")
                source = stage
                first, last_id, rows_staged = ctx.con.execute(
                    f"SELECT min(rowid), max(rowid), count(*) FROM {stage}").fetchall()[0]
                if rows_staged and last_id - first + 1 == rows_staged:  # (row ids with gaps: not seen)
                    numbering = f"rowid - {int(first)} + {int(section.header_n) + 1}"
            numbered = f"SELECT {numbering} AS n, * FROM {source}"
            rows = f"""
                SELECT * REPLACE (rtrim({last}) AS {last})
                FROM ({numbered})
                WHERE NOT coalesce(starts_with(ltrim(c1), '#'), false) AND NOT coalesce({repeated_header}, false)"""
            count = ctx.insert(table, f"SELECT {select} FROM ({rows})", columns=names)
            ctx.con.execute(f"DROP TABLE IF EXISTS {stage}")
            rejected, listed = ctx.con.execute(
                f"SELECT count(*), count(DISTINCT line) FROM {rejects}").fetchall()[0]
            if rejected >= REJECTS_LIMIT:
                # Too many bad rows to number the good ones from the list: split the lines instead.
                ctx.con.execute(f"DELETE FROM {table} WHERE evidence_id = {int(ctx.evidence_id)}")
                ctx.records[table] -= count
                return _insert_split_lines(ctx, table, select, section, n_fields, ", ")
            skipped = sorted({int(line) for (line,) in ctx.con.execute(
                f"SELECT DISTINCT line FROM {rejects} WHERE line > {int(section.header_n)}").fetchall()}
                | {n for n in file.blank_lines if n > section.header_n})
            if skipped and count:
                _renumber(ctx, table, skipped)
            if listed:  # blank and comment lines are skipped without a word, as the line splitter does
                fields = f"len(string_split(csv_line, ', '))"
                reason = (f"CASE WHEN error_type IN ('MISSING COLUMNS', 'TOO MANY COLUMNS') "
                          f"THEN {_bad_row_reason(fields, n_fields)} "
                          f"ELSE 'nvidia-smi CSV row could not be read: ' || lower(error_type) END")
                ctx.warn_many(f"""
                    SELECT 'line:' || line AS locator, {reason} AS reason, csv_line AS excerpt
                    FROM (SELECT DISTINCT ON (line) line, error_type, trim(csv_line, chr(10) || chr(13)) AS csv_line
                          FROM {rejects} ORDER BY line, column_idx)
                    WHERE trim(csv_line) <> '' AND NOT starts_with(ltrim(csv_line), '#')""")
        finally:
            ctx.con.execute(f"DROP TABLE IF EXISTS {stage}")
            ctx.con.execute(f"DROP TABLE IF EXISTS {rejects}")
            ctx.con.execute(f"DROP TABLE IF EXISTS {rejects}_scan")
    return count


def _renumber(ctx: ParseContext, table: str, skipped: list[int]) -> None:
    """Give rows numbered by their place among the reader's rows their line in the file.

    With the skipped lines s_1 < s_2 < ... (rejected or empty), the row counted as line p is on
    line p + j for the largest j with s_j - j < p."""
    name = f"_smi_skips_{uuid_module.uuid4().hex[:12]}"
    eid = int(ctx.evidence_id)
    ctx.con.execute(f"""CREATE TEMP TABLE {name} AS
        SELECT s - j AS below, max(j) AS j
        FROM (SELECT unnest($skipped::BIGINT[]) AS s, generate_subscripts($skipped::BIGINT[], 1) AS j)
        GROUP BY ALL""", {"skipped": skipped})
    try:
        ctx.con.execute(f"""
            UPDATE {table} SET locator = moved.new_locator
            FROM (SELECT r.locator AS old_locator, 'line:' || (r.p + k.j) AS new_locator
                  FROM (SELECT locator, CAST(substr(locator, 6) AS BIGINT) AS p FROM {table}
                        WHERE evidence_id = {eid}) r
                  ASOF JOIN {name} k ON r.p > k.below) moved
            WHERE {table}.evidence_id = {eid} AND {table}.locator = moved.old_locator""")
    finally:
        ctx.con.execute(f"DROP TABLE IF EXISTS {name}")


# --------------------------------------------------------------------------- pmon / dmon

PMON_COLUMNS = {"sm": "sm_util", "mem": "mem_util", "enc": "enc_util", "dec": "dec_util", "fb": "used_mib"}
DMON_COLUMNS = {"pwr": "power_w", "gtemp": "temp_c", "sm": "util", "mem": "mem_util", "pclk": "sm_clock_mhz",
                "fb": "fb_used_mib"}


def is_monitor_header(line: str) -> str | None:
    """'pmon' or 'dmon' when the line is the first header line of ``nvidia-smi pmon/dmon``."""
    tokens = line.lstrip("#").split()
    lowered = [t.lower() for t in tokens]
    if not line.startswith("#") or "gpu" not in lowered:
        return None
    if "pid" in lowered and ("command" in lowered or "sm" in lowered):
        return "pmon"
    if {"pwr", "sm"} <= set(lowered) or {"sm", "mem", "mclk"} <= set(lowered) or "gtemp" in lowered:
        return "dmon"
    return None


def _monitor_time(date: str | None, clock: str | None) -> datetime | None:
    if not clock:
        return None
    for fmt in ("%Y%m%d %H:%M:%S", "%Y/%m/%d %H:%M:%S", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.strptime(f"{date} {clock}", fmt) if date else None
        except ValueError:
            continue
    return None


def _number(token: str | None) -> float | None:
    if token is None or token in NO_VALUE:
        return None
    try:
        return float(token)
    except ValueError:
        return None


def parse_monitor(ctx: ParseContext, writer: GpuWriter, lines: Iterable[tuple[int, str]],
                  start_local: datetime | None = None, start_utc: datetime | None = None,
                  interval_s: float = 1.0, host: str | None = None) -> dict[str, int]:
    """``nvidia-smi pmon`` or ``dmon`` output (headers may repeat). Times come from ``-o DT``
    columns when present; otherwise sample n is placed at start + n * interval (inferred), or
    left empty when no start is known."""
    counts = {"pmon": 0, "dmon": 0, "no_time": 0}
    header: list[str] | None = None
    mode: str | None = None
    cycle = -1
    seen_in_cycle: set[tuple[str, str]] = set()
    last_gpu: int | None = None
    for n, raw in lines:
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        if line.startswith("#"):
            found = is_monitor_header(line)
            if found:
                mode = found
                header = [t.lower() for t in line.lstrip("#").split()]
            continue  # the units line and other comments
        if header is None or mode is None:
            ctx.warn(f"line:{n}", "monitor row before any pmon/dmon header", line)
            continue
        tokens = line.split()
        if len(tokens) < len(header) - (1 if mode == "pmon" else 0):
            ctx.warn(f"line:{n}", f"{mode} row has fewer fields than its header", line)
            continue
        if mode == "pmon" and len(tokens) > len(header):  # a command name with spaces
            tokens = tokens[: len(header) - 1] + [" ".join(tokens[len(header) - 1:])]
        row = dict(zip(header, tokens))
        try:
            gpu = int(row.get("gpu", ""))
        except ValueError:
            ctx.warn(f"line:{n}", f"{mode} row without a GPU index", line)
            continue
        key = (row.get("gpu", ""), row.get("pid", "")) if mode == "pmon" else (row.get("gpu", ""), "")
        if cycle < 0 or key in seen_in_cycle or (last_gpu is not None and gpu < last_gpu):
            cycle += 1
            seen_in_cycle = set()
        seen_in_cycle.add(key)
        last_gpu = gpu
        local = _monitor_time(row.get("date"), row.get("time"))
        ts = None
        ts_raw = " ".join(v for v in (row.get("date"), row.get("time")) if v) or None
        if local is None:
            if start_utc is not None:
                ts = start_utc + timedelta(seconds=cycle * interval_s)
            elif start_local is not None:
                local = start_local + timedelta(seconds=cycle * interval_s)
            else:
                counts["no_time"] += 1
        common: dict[str, Any] = {
            "ts": ts, "ts_local": local, "ts_raw": ts_raw, "ts_inferred": True, "host": host,
            "gpu_index": gpu, "index_kind": "nvml", "locator": f"line:{n}",
        }
        if mode == "pmon":
            pid = row.get("pid")
            if pid in NO_VALUE:
                continue  # "no process on this GPU in this sample"
            try:
                pid_value = int(pid)
            except (TypeError, ValueError):
                ctx.warn(f"line:{n}", "pmon row with a pid that is not a number", line)
                continue
            values = {col: _number(row.get(name)) for name, col in PMON_COLUMNS.items()}
            extra = {k: v for k, v in row.items()
                     if k not in PMON_COLUMNS and k not in ("gpu", "pid", "type", "command", "date", "time")
                     and v not in NO_VALUE}
            writer.add("gpu_processes", **common, pid=pid_value, process_name=row.get("command"),
                       process_type=None if row.get("type") in NO_VALUE else row.get("type"),
                       record_kind="utilization", extra=extra, **values)
            counts["pmon"] += 1
        else:
            values = {col: _number(row.get(name)) for name, col in DMON_COLUMNS.items()}
            extra = {k: v for k, v in row.items()
                     if k not in DMON_COLUMNS and k not in ("gpu", "date", "time") and v not in NO_VALUE}
            writer.add("gpu_samples", **common, extra=extra, **values)
            counts["dmon"] += 1
    if counts["no_time"]:
        ctx.warn(None, f"{counts['no_time']} pmon/dmon rows have no time stamp (no Date/Time columns and no "
                 "start given): give --option smi_start=ISO-TIME [--option smi_interval_s=N]")
    return counts


# --------------------------------------------------------------------------- -q -x XML

XML_COLUMNS = {
    "fb_memory_usage/used": "fb_used_mib",
    "utilization/gpu_util": "util",
    "utilization/memory_util": "mem_util",
    "temperature/gpu_temp": "temp_c",
    "clocks/sm_clock": "sm_clock_mhz",
}
# Power moved from <power_readings> to <gpu_power_readings> (driver 535) and split into
# instant/average readings later; the first present wins.
XML_POWER = ("gpu_power_readings/power_draw", "gpu_power_readings/average_power_draw",
             "gpu_power_readings/instant_power_draw", "power_readings/power_draw",
             "power_readings/average_power_draw", "power_readings/instant_power_draw")


def _xml_number(text: str | None) -> float | None:
    if text is None:
        return None
    text = text.strip()
    if text in NO_VALUE:
        return None
    try:
        return float(text.split()[0])
    except (ValueError, IndexError):
        return None


def _flatten(element: ET.Element, prefix: str, out: dict[str, str], skip: tuple[str, ...]) -> None:
    for child in element:
        path = f"{prefix}/{child.tag}" if prefix else child.tag
        if path in skip:
            continue
        if len(child):
            _flatten(child, path, out, skip)
        else:
            text = (child.text or "").strip()
            if text and text not in NO_VALUE:
                out[path] = text


def ctime_local(text: str | None) -> datetime | None:
    """``Mon Aug  7 11:10:06 2023`` (nvidia-smi -q -x, local time)."""
    if not text:
        return None
    try:
        return datetime.strptime(" ".join(text.split()), "%a %b %d %H:%M:%S %Y")
    except ValueError:
        return None


def parse_xml(ctx: ParseContext, writer: GpuWriter, data: bytes, line_offset: int = 0,
              host: str | None = None) -> dict[str, int]:
    """``nvidia-smi -q -x``: one gpu_samples row per GPU (every leaf kept in extra) and one
    gpu_processes row per running (and accounted) process."""
    counts = {"gpus": 0, "processes": 0}
    try:
        # The DOCTYPE names an external DTD; ElementTree never fetches it.
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        line = exc.position[0] + line_offset if exc.position else None
        ctx.warn(f"line:{line}" if line else None, f"not well-formed nvidia-smi XML: {exc}", data[:200])
        return counts
    stamp = root.findtext("timestamp")
    local = ctime_local(stamp)
    log_facts = {c.tag: (c.text or "").strip() for c in root if len(c) == 0 and (c.text or "").strip()}
    for number, gpu in enumerate(root.findall("gpu")):
        locator = f"gpu[{number}]" if not line_offset else f"line:{line_offset} gpu[{number}]"
        bus = gpu.get("id") or gpu.findtext("pci/pci_bus_id")
        values: dict[str, Any] = {}
        for path, column in XML_COLUMNS.items():
            values[column] = _xml_number(gpu.findtext(path))
        values["power_w"] = next((v for v in (_xml_number(gpu.findtext(p)) for p in XML_POWER) if v is not None), None)
        extra: dict[str, str] = {}
        _flatten(gpu, "", extra, skip=("processes", "accounted_processes"))
        extra.update({f"log/{k}": v for k, v in log_facts.items()})
        minor = gpu.findtext("minor_number")
        labels = {"minor_number": minor.strip()} if minor and minor.strip() not in NO_VALUE else None
        uuid = gpu.findtext("uuid")
        writer.add("gpu_samples", ts_local=local, ts_raw=stamp, ts_inferred=True, host=host,
                   gpu_uuid=uuid, pci_bus_id=bus, gpu_model=gpu.findtext("product_name"),
                   labels=labels, extra=extra, locator=locator, **values)
        counts["gpus"] += 1
        for kind, path in (("running", "processes/process_info"),
                           ("accounting", "accounted_processes/accounted_process_info")):
            for p_number, proc in enumerate(gpu.findall(path)):
                pid = proc.findtext("pid")
                try:
                    pid_value = int(pid) if pid else None
                except ValueError:
                    pid_value = None
                p_extra: dict[str, str] = {}
                _flatten(proc, "", p_extra, skip=())
                instance = proc.findtext("gpu_instance_id")
                writer.add(
                    "gpu_processes", ts_local=local, ts_raw=stamp, ts_inferred=True, host=host,
                    gpu_uuid=uuid, pci_bus_id=bus, pid=pid_value,
                    process_name=proc.findtext("process_name"),
                    process_type=proc.findtext("type"), record_kind=kind,
                    used_mib=_xml_number(proc.findtext("used_memory") or proc.findtext("max_memory_usage")),
                    sm_util=_xml_number(proc.findtext("gpu_util")),
                    mem_util=_xml_number(proc.findtext("memory_util")),
                    mig_instance=None if not instance or instance.strip() in NO_VALUE else instance.strip(),
                    extra=p_extra, locator=f"{locator} {path.split('/')[0]}[{p_number}]",
                )
                counts["processes"] += 1
    if not counts["gpus"]:
        ctx.warn(None, "nvidia-smi XML without any <gpu> element", data[:200])
    return counts


# --------------------------------------------------------------------------- -L

LIST_LINE = re.compile(r"^\s*GPU\s+(\d+):\s*(.*?)\s*\(UUID:\s*([^)]+)\)")


def parse_list(lines: Iterable[tuple[int, str]]) -> list[dict[str, Any]]:
    """``nvidia-smi -L``: GPU index, model and UUID (identity only)."""
    found = []
    for n, line in lines:
        match = LIST_LINE.match(line)
        if match:
            found.append({"index": int(match.group(1)), "model": match.group(2), "uuid": match.group(3).strip(),
                          "locator": f"line:{n}"})
    return found
