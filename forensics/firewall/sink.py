"""Writing normalised network records: ``net_events`` (and ``flows``) with direction and host.

Every parser of this area hands :class:`NetEventWriter` a SQL SELECT, relation or Arrow table
with ``net_events`` column names; the writer adds ``direction`` (from :mod:`.addresses`),
``source_format``, and, for sources that do not name a host (cloud firewalls, flow logs), the
inventory host owning the record's cluster-side address at that time.

One kernel line often lands in several files (kern.log, syslog, messages, journald). Rows carry a
``dedup_key`` (a hash of the packet's identifying fields); after a file is loaded,
:meth:`NetEventWriter.deduplicate` pairs each of its rows with an identical row already in the
case from another file of the same family (same host and key, stamps at most two seconds apart,
one to one), keeps the earlier row and records the later sighting in ``net_event_duplicates``:
one event, two provenance entries (view ``net_event_provenance``).

Three ways in, by what the parser has: :meth:`NetEventWriter.insert_now` for SQL that DuckDB runs
over the file itself (one statement per file), :meth:`NetEventWriter.insert_stream` for Arrow
blocks made in Python while DuckDB writes (one statement per file), and
:meth:`NetEventWriter.insert` for anything else (staged in Parquet, one statement at the end).
Parsers of large files run inside :func:`memory_budget`.
"""

from __future__ import annotations

import os
import uuid
import weakref
from contextlib import contextmanager
from typing import Any, Iterator

import duckdb

import pyarrow as pa
import pyarrow.compute as pc

from forensics.membudget import budget
from forensics.context import ParseContext, sql_string

from .addresses import ClusterAddresses

# Formats that carry the same kernel log lines (one family for de-duplication).
NETFILTER_FAMILY = ("netfilter", "journald", "ulogd")
DUPLICATE_WINDOW_S = 2.0


def register_ip_function(con) -> None:
    """``fw_ip(text)``: canonical address text (IPv6 compressed, IPv4 without leading zeros), NULL
    when the text is not an address; computed once per distinct value of each vector."""
    if con.execute("SELECT count(*) FROM duckdb_functions() WHERE function_name = 'fw_ip'").fetchall()[0][0]:
        return
    from .netfilter_line import normalise_ip

    def fw_ip(values):
        unique = pc.unique(values)
        mapped = pa.array([normalise_ip(v) if v is not None else None for v in unique.to_pylist()], type=pa.string())
        return pc.take(mapped, pc.index_in(values, value_set=unique))

    con.create_function("fw_ip", fw_ip, ["VARCHAR"], "VARCHAR", type="arrow", null_handling="special",
                        side_effects=False)


def canonical_ip_sql(expr: str) -> str:
    """SQL giving canonical text for an address column; Python runs only for IPv6 and odd IPv4."""
    return (f"CASE WHEN contains({expr}, ':') OR starts_with({expr}, '0') OR contains({expr}, '.0') "
            f"THEN (CASE WHEN contains({expr}, ':') OR regexp_matches({expr}, '(^|\\.)0[0-9]') "
            f"THEN fw_ip({expr}) ELSE {expr} END) ELSE {expr} END")


class NetEventWriter:
    def __init__(self, ctx: ParseContext, source_format: str, family: tuple[str, ...] | None = None) -> None:
        self.ctx = ctx
        register_ip_function(ctx.con)
        self.source_format = source_format
        self.family = family
        self.addresses = ClusterAddresses.from_case(ctx.con)
        self.direction_sql = self.addresses.direction_sql("src_ip", "dst_ip")
        self.rows = 0
        self._parquet = None
        self._schema = None
        self._scratch = None

    def _columns(self) -> list[str]:
        return self.ctx.table_columns("net_events")

    def _column_types(self) -> list[tuple[str, str]]:
        if getattr(self, "_types", None) is None:
            self._types = [(name, kind) for name, kind in self.ctx.con.execute(
                "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'net_events' "
                "AND table_schema = 'main' ORDER BY ordinal_position").fetchall()]
        return self._types

    def insert(self, data: Any, select: str | None = None, host_from_addresses: bool = False,
               canonical: bool = False) -> int:
        """Append rows (net_events column names; ``direction`` and ``source_format`` are added).
        ``data`` is a SQL SELECT or an Arrow table; ``select`` optionally maps it (it reads a
        relation named ``v``). With ``host_from_addresses`` a row without ``host`` gets the
        inventory host of its private source address, source, or destination (in that order) at
        the record's time. ``canonical``: the addresses are canonical text already (the netfilter
        reader writes them so), which skips the check. The rows are staged and written by
        :meth:`flush` (see :meth:`_stage`)."""
        # read by name from this frame (a replacement scan): a registered table would stay
        # alive until the evidence file's transaction commits
        _fw_rows = data  # noqa: F841
        inner = _inner(f"({data})" if isinstance(data, str) else "_fw_rows", select)
        present = {row[0] for row in self.ctx.con.execute(f"DESCRIBE {inner}").fetchall()}
        sql = self._rows_sql(inner, present, host_from_addresses, canonical)
        count = self._stage(self.ctx.con.sql(sql).to_arrow_table())
        self.rows += count
        return count

    def insert_now(self, sql: str, host_from_addresses: bool = False, canonical: bool = False) -> int:
        """Like :meth:`insert` for a SQL SELECT that DuckDB runs over the evidence file itself
        (``read_csv``): one ``INSERT ... SELECT`` straight into net_events, no staging. DuckDB
        writes the row groups of one large insert to the case file as they fill, so memory
        does not grow with the file."""
        inner = _inner(f"({sql})", None)
        present = {row[0] for row in self.ctx.con.execute(f"DESCRIBE {inner}").fetchall()}
        count = self.ctx.insert("net_events", self._rows_sql(inner, present, host_from_addresses, canonical))
        self.rows += count
        return count

    def insert_stream(self, tables: Iterator[pa.Table], select: str | None = None, canonical: bool = False) -> int:
        """Like :meth:`insert` for a sequence of Arrow tables of one schema made while DuckDB reads
        them: one ``INSERT ... SELECT`` over the whole sequence, no staging. ``tables`` is consumed
        by DuckDB as it writes (the next block is made when the last one is in)."""
        first = next(tables, None)
        if first is None:
            return 0
        schema = first.schema

        def batches():
            yield from first.to_batches()
            for table in tables:
                if table.schema != schema:
                    table = table.select(schema.names).cast(schema)
                yield from table.to_batches()

        # both read by name from this frame (a replacement scan), as in insert
        _fw_stream = pa.RecordBatchReader.from_batches(schema, batches())  # noqa: F841
        _fw_empty = schema.empty_table()  # noqa: F841
        present = {row[0] for row in self.ctx.con.execute(f"DESCRIBE {_inner('_fw_empty', select)}").fetchall()}
        sql = self._rows_sql(_inner("_fw_stream", select), present, False, canonical)
        count = int(self.ctx.con.execute(
            f"INSERT INTO net_events BY NAME SELECT *, {int(self.ctx.evidence_id)}::INTEGER AS evidence_id "
            f"FROM ({sql})").fetchall()[0][0])
        self.ctx.records["net_events"] += count
        self.rows += count
        return count

    def _rows_sql(self, inner: str, present: set[str], host_from_addresses: bool, canonical: bool) -> str:
        """The SELECT giving every net_events column (but evidence_id) for the rows of ``inner``
        (whose columns are ``present``)."""
        given_direction = "direction" in present  # computed by the parser already
        wanted = [c for c in self._columns() if c in present and c not in ("direction", "source_format", "host")]
        addresses = [c for c in ("src_ip", "dst_ip", "src_private_ip") if c in present]
        if addresses and not canonical:  # canonical text before direction and host lookups read it
            inner = ("SELECT * REPLACE (" + ", ".join(f"{canonical_ip_sql(c)} AS {c}" for c in addresses)
                     + f") FROM ({inner})")
        select_list = [f"v.{c}" for c in wanted]
        joins = ""
        if host_from_addresses:
            leases = self._host_map()
            private = "v.src_private_ip" if "src_private_ip" in present else "NULL::VARCHAR"
            parts = (["v.host"] if "host" in present else []) + ["hp.host", "hs.host", "hd.host"]
            joins = (f" LEFT JOIN _fw_host_static hp ON hp.ip = {private}"
                     " LEFT JOIN _fw_host_static hs ON hs.ip = v.src_ip"
                     " LEFT JOIN _fw_host_static hd ON hd.ip = v.dst_ip")
            if leases:  # time-bounded addresses (sandbox leases): one host at the record's time
                for column in (private, "v.src_ip", "v.dst_ip"):
                    parts.append(f"(SELECT min(l.host) FROM _fw_host_leases l WHERE l.ip = {column} "
                                 f"AND {_valid('l')})")
            host_expr = "coalesce(" + ", ".join(parts) + ")"
        else:
            host_expr = "v.host" if "host" in present else "NULL::VARCHAR"
        select_list.append(f"{host_expr} AS host")
        select_list.append("v.direction" if given_direction else
                           f"{self.direction_sql.replace('src_ip', 'v.src_ip').replace('dst_ip', 'v.dst_ip')} "
                           f"AS direction")
        select_list.append(f"{sql_string(self.source_format)} AS source_format")
        # every net_events column, so that every staged batch has one schema
        given = {c for c in wanted} | {"host", "direction", "source_format"}
        for name, kind in self._column_types():
            if name not in given and name != "evidence_id":
                select_list.append(f"NULL::{kind} AS \"{name}\"")
        return f"SELECT {', '.join(select_list)} FROM ({inner}) v{joins}"

    # Rows are staged in a Parquet file and inserted with one statement when the file is done.
    # Block by block INSERTs inside the file's one transaction keep every uncommitted row in
    # memory (about a kilobyte a row); one large INSERT lets DuckDB write row groups straight to
    # the case file, so memory stays flat however big the evidence is.
    def _stage(self, table) -> int:
        import pyarrow.parquet as pq

        if table.num_rows == 0:
            return 0
        if self._parquet is None:
            path = self.ctx.scratch_path(".parquet")
            self._schema = table.schema
            self._parquet = pq.ParquetWriter(str(path), self._schema, compression="zstd")
            self._scratch = path
            self._cleanup = weakref.finalize(self, _remove_quietly, str(path))
        if table.schema != self._schema:
            table = table.select(self._schema.names).cast(self._schema)
        self._parquet.write_table(table, row_group_size=131072)
        return table.num_rows

    def flush(self) -> int:
        """Insert the staged rows into net_events (one statement). Returns the rows inserted."""
        if self._parquet is None:
            return 0
        self._parquet.close()
        self._parquet = None
        try:
            count = self.ctx.insert("net_events", f"SELECT * FROM read_parquet({sql_string(self._scratch)})")
        finally:
            self._cleanup()
        return count

    def _host_map(self) -> int:
        """Temporary lookup tables: static addresses (one host each) and time-bounded leases.
        Made once per file: inside the file's transaction a replaced table would be kept."""
        if getattr(self, "_leases", None) is not None:
            return self._leases
        con = self.ctx.con
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _fw_host_static AS SELECT ip, min(host) AS host FROM host_addresses "
            "WHERE host IS NOT NULL AND ip IS NOT NULL AND valid_from IS NULL AND valid_to IS NULL GROUP BY ip")
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _fw_host_leases AS SELECT ip, host, valid_from, valid_to "
            "FROM host_addresses WHERE host IS NOT NULL AND ip IS NOT NULL "
            "AND (valid_from IS NOT NULL OR valid_to IS NOT NULL)")
        self._leases = int(con.execute("SELECT count(*) FROM _fw_host_leases").fetchall()[0][0])
        return self._leases

    def deduplicate(self) -> int:
        """Write the staged rows, then fold rows of this evidence that repeat a row of another file
        of the same family. Every parser calls it once, at the end of its file."""
        self.flush()
        if not self.family or not self.rows:
            return 0
        con = self.ctx.con
        eid = int(self.ctx.evidence_id)
        family = ", ".join(sql_string(f) for f in self.family)
        others = con.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM net_events WHERE evidence_id <> {eid} "
            f"AND source_format IN ({family}) AND host IN "
            f"(SELECT DISTINCT host FROM net_events WHERE evidence_id = {eid}) LIMIT 1)"
        ).fetchall()[0][0]
        if not others:
            return 0
        table = f"_fw_dups_{uuid.uuid4().hex[:8]}"
        con.execute(f"""
            CREATE TEMP TABLE {table} AS
            WITH mine AS (
                SELECT locator, ts, ts_raw, host, dedup_key,
                       row_number() OVER (PARTITION BY host, dedup_key ORDER BY ts, locator) AS rank
                FROM net_events WHERE evidence_id = {eid} AND dedup_key IS NOT NULL
            ), theirs AS (
                SELECT evidence_id, locator, ts, host, dedup_key,
                       row_number() OVER (PARTITION BY host, dedup_key ORDER BY ts, evidence_id, locator) AS rank
                FROM net_events
                WHERE evidence_id <> {eid} AND source_format IN ({family}) AND dedup_key IS NOT NULL
                  AND dedup_key IN (SELECT dedup_key FROM mine)
            )
            SELECT m.locator, m.ts_raw, t.evidence_id AS canonical_evidence_id, t.locator AS canonical_locator
            FROM mine m JOIN theirs t
              ON t.host IS NOT DISTINCT FROM m.host AND t.dedup_key = m.dedup_key AND t.rank = m.rank
             AND abs(epoch(t.ts) - epoch(m.ts)) <= {DUPLICATE_WINDOW_S}
        """)
        try:
            moved = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
            if moved:
                con.execute(f"""
                    INSERT INTO net_event_duplicates BY NAME
                    SELECT {eid} AS evidence_id, locator, ts_raw, {sql_string(self.source_format)} AS source_format,
                           canonical_evidence_id, canonical_locator FROM {table}""")
                con.execute(f"DELETE FROM net_events WHERE evidence_id = {eid} "
                            f"AND locator IN (SELECT locator FROM {table})")
                self.ctx.records["net_events"] -= int(moved)
                self.ctx.records["net_event_duplicates"] += int(moved)
        finally:
            con.execute(f"DROP TABLE IF EXISTS {table}")
        return int(moved)


DEFAULT_MEMORY_LIMIT = "512MB"


def memory_budget(ctx: ParseContext):
    """DuckDB's memory limit while a large file is written (option ``fw_memory_limit``, 512MB).

    Memory measured while loading ten million flow records in one statement grows with the rows
    written (1.0 GB at 10 M) even when the file is committed in chunks: it is DuckDB's buffer
    pool keeping the case's freshly written blocks, and the default limit is most of the
    machine. Under a limit the same load stays flat (about 400 MB at 256MB) at the same speed;
    DuckDB spills sorts and joins beyond it to its temporary directory."""
    return budget(ctx, "fw_memory_limit", DEFAULT_MEMORY_LIMIT)


def _inner(source: str, select: str | None) -> str:
    return f"SELECT * FROM {source}" if select is None else f"WITH v AS (SELECT * FROM {source}) {select}"


def _valid(alias: str) -> str:
    return (f"({alias}.valid_from IS NULL OR v.ts IS NULL OR v.ts >= {alias}.valid_from) "
            f"AND ({alias}.valid_to IS NULL OR v.ts IS NULL OR v.ts < {alias}.valid_to)")


class HostNames:
    """Maps host names seen in logs to inventory hosts (names and aliases)."""

    def __init__(self, ctx: ParseContext) -> None:
        rows = ctx.con.execute(
            "SELECT value, coalesce(host, value) FROM entities WHERE kind IN ('host', 'hostname')").fetchall()
        self.known = {str(name).lower(): host for name, host in rows}
        self.hint = ctx.hints.host

    def known_name(self, name: str | None) -> str | None:
        """The inventory host a name stands for, else the name itself."""
        if not name:
            return None
        return self.known.get(name.lower()) or self.known.get(name.split(".")[0].lower()) or name

    def resolve(self, name: str | None) -> str | None:
        """An inventory host the log names, else the file's host hint, else the name as logged."""
        if name:
            known = self.known.get(name.lower()) or self.known.get(name.split(".")[0].lower())
            if known:
                return known
        return self.hint or name


def _remove_quietly(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass
