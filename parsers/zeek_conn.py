"""Zeek ``conn.log``: the native TSV (columns from the ``#fields`` header, never a fixed order;
``-`` unset, ``(empty)`` empty; headers repeated in rotated files) and JSON logs
(``LogAscii::use_json``, ``ts`` as epoch seconds or ISO 8601).

Each connection becomes a ``flows`` row under Zeek's own column names (shared with the packet
capture parser, so the scan query reads both alike) and a ``net_events`` row: ``bytes_out`` /
``bytes_in`` are the IP bytes each way (``orig_ip_bytes`` / ``resp_ip_bytes``, payload bytes when
those are missing), ``ts_end`` is ``ts + duration``, ``action`` is empty (Zeek observes; it does
not decide), and ``conn_state``, ``history``, ``service`` and ``uid`` go to ``extra``. The host is
the file's host hint, else the inventory host owning either address. A ``ts`` that is not a
number (btest canonifies it to ``XXXXXXXXXX.XXXXXX``) leaves the time empty and is counted in
one warning.
"""

from __future__ import annotations

from forensics.context import ParseContext, sql_string
from forensics.firewall.jsonlines import TEXT, iter_line_tables
from forensics.firewall.sink import NetEventWriter, canonical_ip_sql
from forensics.registry import Parser, Sniff, register

NAME = "zeek_conn"
FIELDS = ("ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "service", "duration",
          "orig_bytes", "resp_bytes", "conn_state", "missed_bytes", "history", "orig_pkts", "orig_ip_bytes",
          "resp_pkts", "resp_ip_bytes", "local_orig", "local_resp", "community_id")

# Over relation "r" with one VARCHAR column per FIELDS entry (NULL when unset), line and text.
MAPPED = """
SELECT line, text,
       CASE WHEN "id.orig_h" IS NULL OR "id.resp_h" IS NULL THEN 'connection without id.orig_h/id.resp_h'
            WHEN ("id.orig_p" IS NOT NULL AND coalesce(TRY_CAST("id.orig_p" AS BIGINT) NOT BETWEEN 0 AND 65535, true))
              OR ("id.resp_p" IS NOT NULL AND coalesce(TRY_CAST("id.resp_p" AS BIGINT) NOT BETWEEN 0 AND 65535, true))
                THEN 'port out of range'
       END AS problem,
       coalesce(to_timestamp(TRY_CAST(ts AS DOUBLE)), TRY_CAST(ts AS TIMESTAMPTZ)) AS ts, ts AS ts_raw,
       uid, {orig} AS orig_h, TRY_CAST("id.orig_p" AS INTEGER) AS orig_p,
       {resp} AS resp_h, TRY_CAST("id.resp_p" AS INTEGER) AS resp_p,
       lower(proto) AS proto, service, TRY_CAST(duration AS DOUBLE) AS duration,
       TRY_CAST(orig_bytes AS BIGINT) AS orig_bytes, TRY_CAST(resp_bytes AS BIGINT) AS resp_bytes,
       conn_state, TRY_CAST(missed_bytes AS BIGINT) AS missed_bytes, history,
       TRY_CAST(orig_pkts AS BIGINT) AS orig_pkts, TRY_CAST(orig_ip_bytes AS BIGINT) AS orig_ip_bytes,
       TRY_CAST(resp_pkts AS BIGINT) AS resp_pkts, TRY_CAST(resp_ip_bytes AS BIGINT) AS resp_ip_bytes,
       local_orig, local_resp, community_id
FROM r
""".format(orig=canonical_ip_sql('"id.orig_h"'), resp=canonical_ip_sql('"id.resp_h"'))


def sniff(s: Sniff) -> float:
    head = s.text[:8192]
    if "#path\tconn" in head or ("#fields\t" in head and "id.orig_h" in head and "conn_state" in head):
        return 0.95
    if head.lstrip().startswith("{") and '"id.orig_h"' in head and '"conn_state"' in head:
        return 0.9
    return 0.0


class _Loader:
    def __init__(self, ctx: ParseContext) -> None:
        self.ctx = ctx
        self.writer = NetEventWriter(ctx, NAME, family=(NAME,))
        self.writer._host_map()
        self.untimed = 0

    def load(self, relation_sql: str, _zeek_block=None) -> None:
        """``relation_sql``: a SELECT giving line, text and the FIELDS (VARCHAR, NULL if unset)
        over ``_zeek_block`` (an Arrow table, read by name)."""
        con, ctx = self.ctx.con, self.ctx
        staged = con.sql(f"WITH r AS ({relation_sql}) {MAPPED}").to_arrow_table()
        _zeek_staged = staged  # noqa: F841  (read by name)
        ctx.warn_many(con.sql("SELECT 'line:' || line AS locator, problem AS reason, text AS excerpt FROM _zeek_staged "
                      "WHERE problem IS NOT NULL").to_arrow_table())
        self.untimed += con.execute("SELECT count(*) FROM _zeek_staged WHERE problem IS NULL AND ts IS NULL"
                                    ).fetchall()[0][0]
        hint = sql_string(ctx.hints.host) if ctx.hints.host else "NULL::VARCHAR"
        good = con.sql(f"""
            SELECT g.*, coalesce({hint}, ho.host, hr.host) AS host
            FROM (SELECT * EXCLUDE (problem, text) FROM _zeek_staged WHERE problem IS NULL) g
            LEFT JOIN _fw_host_static ho ON ho.ip = g.orig_h
            LEFT JOIN _fw_host_static hr ON hr.ip = g.resp_h""").to_arrow_table()
        if not good.num_rows:
            return
        _zeek_good = good  # noqa: F841  (read by name)
        ctx.insert("flows", con.sql(f"""
            SELECT ts, uid, orig_h, orig_p, resp_h, resp_p, proto, service, duration, orig_bytes, resp_bytes,
                   conn_state, missed_bytes, history, orig_pkts, orig_ip_bytes, resp_pkts, resp_ip_bytes, host,
                   '{NAME}' AS source_format, 'line:' || line AS locator
            FROM _zeek_good""").to_arrow_table())
        events = con.sql("""
            SELECT ts, ts + to_microseconds(CAST(coalesce(duration, 0) * 1e6 AS BIGINT)) AS ts_end, ts_raw,
                   false AS ts_inferred, host, orig_h AS src_ip, orig_p AS src_port, resp_h AS dst_ip,
                   resp_p AS dst_port, proto,
                   coalesce(orig_ip_bytes, orig_bytes) AS bytes_out, coalesce(resp_ip_bytes, resp_bytes) AS bytes_in,
                   orig_pkts AS packets_out, resp_pkts AS packets_in, 'line:' || line AS locator,
                   hash(uid, ts_raw, orig_h, orig_p, resp_h, resp_p) AS dedup_key,
                   json_object('uid', uid, 'conn_state', conn_state, 'history', history, 'service', service,
                               'duration', duration, 'local_orig', local_orig, 'local_resp', local_resp,
                               'community_id', community_id) AS extra
            FROM _zeek_good""").to_arrow_table()
        self.writer.insert(events, host_from_addresses=True)

    def finish(self) -> None:
        if self.untimed:
            self.ctx.warn(None, f"{self.untimed} connection(s) with a ts that is not a time (canonified?): "
                          "loaded without a time")
        self.writer.deduplicate()


def parse_tsv(ctx: ParseContext, loader: _Loader) -> None:
    con = ctx.con
    fields: list[str] | None = None
    unset, empty = "-", "(empty)"
    with ctx.open() as handle:
        for table, nread in iter_line_tables(handle):
            # Arrow, not temporary tables: in the file's one transaction replaced tables are kept
            _zeek_lines = table  # noqa: F841  (read by name)
            block = con.sql(f"SELECT line, {TEXT} AS t FROM _zeek_lines").to_arrow_table()
            _zeek_block = block  # noqa: F841  (read by name)
            headers = con.execute("SELECT line, t FROM _zeek_block WHERE starts_with(t, '#') ORDER BY line").fetchall()
            bounds, start = [], None
            first, last = con.execute("SELECT min(line), max(line) FROM _zeek_block").fetchall()[0]
            if first is None:
                continue
            start, current = first, fields
            for line, text in headers:
                if line > start:
                    bounds.append((start, line, current))
                start = line + 1
                key, _, value = text.partition("\t")
                if key == "#fields":
                    current = value.split("\t")
                elif key == "#unset_field":
                    unset = value
                elif key == "#empty_field":
                    empty = value
            bounds.append((start, last + 1, current))
            fields = current
            for lo, hi, names in bounds:
                if hi <= lo:
                    continue
                if names is None:
                    ctx.warn(f"line:{lo}", "conn.log records before any #fields header", None)
                    continue
                columns = []
                for name in FIELDS:
                    if name in names:
                        i = names.index(name) + 1
                        columns.append(f"CASE WHEN f[{i}] IN ({sql_string(unset)}, {sql_string(empty)}) THEN NULL "
                                       f"ELSE f[{i}] END AS \"{name}\"")
                    else:
                        columns.append(f"NULL::VARCHAR AS \"{name}\"")
                width = len(names)
                records = (f"SELECT line, t, string_split(t, chr(9)) AS f FROM _zeek_block "
                           f"WHERE line >= {lo} AND line < {hi} AND NOT starts_with(t, '#')")
                ctx.warn_many(con.sql(f"SELECT 'line:' || line AS locator, 'record without the {width} fields of the header "
                              f"(truncated?)' AS reason, t AS excerpt FROM ({records}) WHERE len(f) <> {width}").to_arrow_table())
                relation = f"SELECT line, t AS text, {', '.join(columns)} FROM ({records}) WHERE len(f) = {width}"
                loader.load(relation, block)
            ctx.advance(nread)


def parse_json(ctx: ParseContext, loader: _Loader) -> None:
    con = ctx.con
    columns = ", ".join(f"json_extract_string(j, '$.\"{name}\"') AS \"{name}\"" for name in FIELDS)
    with ctx.open() as handle:
        for table, nread in iter_line_tables(handle):
            _zeek_lines = table  # noqa: F841  (read by name)
            block = con.sql(f"""SELECT line, t, CASE WHEN json_valid(t) THEN t END AS j
                                FROM (SELECT line, {TEXT} AS t FROM _zeek_lines)""").to_arrow_table()
            _zeek_block = block  # noqa: F841  (read by name)
            invalid = con.sql("SELECT 'line:' || line AS locator, 'not a JSON object (truncated or corrupt line)' "
                              "AS reason, t AS excerpt FROM _zeek_block WHERE json_type(j) IS DISTINCT FROM 'OBJECT'"
                              ).to_arrow_table()
            if invalid.num_rows:
                ctx.warn_many(invalid)
            loader.load(f"SELECT line, t AS text, {columns} FROM _zeek_block WHERE json_type(j) = 'OBJECT'", block)
            ctx.advance(nread)


def parse(ctx: ParseContext) -> None:
    loader = _Loader(ctx)
    with ctx.open() as handle:
        head = handle.read(4096).lstrip()
    if head.startswith(b"{"):
        parse_json(ctx, loader)
    else:
        parse_tsv(ctx, loader)
    loader.finish()


register(Parser(
    name=NAME,
    description="Zeek conn.log (TSV with #fields, or JSON) into flows and net_events",
    tables=("flows", "net_events"),
    sniff=sniff,
    parse=parse,
    version="1",
    extensions=(".log", ".json"),
))
