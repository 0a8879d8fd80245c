"""What a parser gets to work with: the evidence, hints, a DuckDB connection, and columnar sinks.

Parsers hand DuckDB columnar data: a SQL ``SELECT`` that DuckDB runs over the file itself
(``read_csv``, ``read_json``, ``regexp_extract`` over lines), a DuckDB relation, or Arrow/pandas
batches built in Python. Never row-at-a-time INSERTs. Every row gets the evidence id; rows are
expected to carry a ``locator`` (line, byte offset, frame, trajectory step) pointing back to the
exact bytes.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Iterable

import duckdb

EXCERPT_LIMIT = 240
WARNINGS_PER_REASON = 1000


@dataclass
class Hints:
    """Facts about an evidence file that its bytes may not carry (host, zone, year)."""

    host: str | None = None
    timezone: str | None = None
    year: int | None = None
    hint_sources: dict[str, str] = field(default_factory=dict)  # hint -> where it came from


def sql_string(value: str | os.PathLike[str]) -> str:
    """A SQL string literal (for paths embedded in SQL over files)."""
    return "'" + str(value).replace("'", "''") + "'"


def bounded_excerpt(value: Any, limit: int = EXCERPT_LIMIT) -> str | None:
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray)):
        text = bytes(value[: limit * 4]).decode("utf-8", errors="backslashreplace")
    else:
        text = str(value)
    text = text.replace("\x00", "\\x00")
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


class ParseContext:
    """Handed to ``Parser.parse``. All writes go through :meth:`insert`, :meth:`warn` and
    :meth:`add_entities`, inside the one transaction that covers this evidence file."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        evidence_id: int,
        path: str,
        local_path: Path,
        parser_name: str,
        hints: Hints,
        options: dict[str, str] | None = None,
        tmp_dir: str | None = None,
        member: str | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.con = con
        self.evidence_id = evidence_id
        self.path = path
        self.member = member
        self.local_path = Path(local_path)
        self.parser_name = parser_name
        self.hints = hints
        self.options = dict(options or {})
        self.tmp_dir = tmp_dir
        self._progress = progress
        self.records: Counter[str] = Counter()
        self.n_warnings = 0
        self._warnings: list[tuple[str | None, str, str | None]] = []
        self._warnings_per_reason: Counter[str] = Counter()
        self._suppressed: Counter[str] = Counter()
        self._columns_cache: dict[str, list[str]] = {}

    # ------------------------------------------------------------------ reading
    @property
    def display_path(self) -> str:
        return f"{self.path}!{self.member}" if self.member else self.path

    @property
    def sql_path(self) -> str:
        """The readable file as a SQL string literal, for ``read_csv``/``read_json``/``read_text``."""
        return sql_string(self.local_path)

    def open(self) -> IO[bytes]:
        return open(self.local_path, "rb")

    def advance(self, nbytes: int) -> None:
        """Report parsing progress in bytes of the readable file (drives the progress bar)."""
        if self._progress is not None:
            self._progress(nbytes)

    def scratch_path(self, suffix: str = "") -> Path:
        """A private temporary file name for intermediate output (removed by the caller)."""
        base = self.tmp_dir or os.environ.get("TMPDIR") or "/tmp"
        return Path(base) / f"forensics-{uuid.uuid4().hex}{suffix}"

    # ------------------------------------------------------------------ writing
    def table_columns(self, table: str) -> list[str]:
        if table not in self._columns_cache:
            # The table as INSERT INTO "table" finds it (a result description: no catalog query,
            # which cost about 10 ms a call, twice per small evidence file).
            try:
                description = self.con.execute(f'SELECT * FROM "{table}" LIMIT 0').description
            except duckdb.CatalogException:
                raise ValueError(f"no table named {table!r} in the case schema") from None
            self._columns_cache[table] = [d[0] for d in description]
        return self._columns_cache[table]

    def insert(self, table: str, data: Any, params: list[Any] | dict[str, Any] | None = None,
               columns: Iterable[str] | None = None) -> int:
        """Append ``data`` to ``table`` by column name and return the number of rows.

        ``data`` is a SQL SELECT (run by DuckDB, optionally with ``params``), a DuckDB relation,
        a pyarrow Table / RecordBatch / RecordBatchReader, a pandas DataFrame, or (for small
        metadata only) a list of dicts. ``evidence_id`` is filled in when the data lacks it.
        ``columns``, the SELECT's output columns when the caller knows them, saves binding the
        SELECT a second time (about as long as loading a small file).
        """
        known_columns = list(columns) if columns is not None else None
        columns = self.table_columns(table)
        view = f"_ingest_src_{uuid.uuid4().hex[:12]}"
        source = view
        try:
            if isinstance(data, str):
                if known_columns is not None:
                    source_columns = known_columns
                else:
                    relation = self.con.sql(data, params=params) if params else self.con.sql(data)
                    source_columns = relation.columns
                # a subquery, not a view: the SQL may read Arrow data registered in this session,
                # which a view in a database file cannot refer to
                source = f"({data}) AS _src"
            elif isinstance(data, duckdb.DuckDBPyRelation):
                source_columns = data.columns
                data.create_view(view, replace=True)
            else:
                if isinstance(data, list):
                    import pyarrow as pa

                    if not data:
                        return 0
                    # pyarrow takes the columns from the first row: give every row every key
                    keys = list(dict.fromkeys(k for row in data for k in row))
                    data = pa.Table.from_pylist([{k: row.get(k) for k in keys} for row in data])
                # DuckDB finds this local variable by name (a replacement scan). Registering the
                # data instead would tie it to the evidence file's open transaction, which keeps
                # every registered table alive until the commit: memory growing with the file.
                _forensics_insert_data = data  # noqa: F841
                source = "_forensics_insert_data"
                source_columns = [c[0] for c in self.con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]
            select = "*"
            if "evidence_id" in columns and "evidence_id" not in source_columns:
                select = f"*, {int(self.evidence_id)}::INTEGER AS evidence_id"
            sql = f'INSERT INTO "{table}" BY NAME SELECT {select} FROM {source}'
            count = (self.con.execute(sql, params) if params and isinstance(data, str)
                     else self.con.execute(sql)).fetchall()[0][0]
        finally:
            if source == view:
                self.con.execute(f"DROP VIEW IF EXISTS {view}")
        if table not in ("parse_warnings",):
            self.records[table] += int(count)
        return int(count)

    def warn(self, locator: str | None, reason: str, excerpt: Any = None) -> None:
        """Record a rejected or doubtful record. Parsing goes on."""
        self.n_warnings += 1
        if self._warnings_per_reason[reason] >= WARNINGS_PER_REASON:
            self._suppressed[reason] += 1
            return
        self._warnings_per_reason[reason] += 1
        self._warnings.append((locator, reason, bounded_excerpt(excerpt)))

    def warn_many(self, data: Any, params: list[Any] | None = None) -> int:
        """Record many warnings at once from columnar data with columns locator, reason, excerpt
        (a SQL SELECT or anything :meth:`insert` takes). At most 1000 rows per reason are kept
        in detail; the rest are counted in one summary row per reason."""
        view = f"_warn_src_{uuid.uuid4().hex[:12]}"
        source = view
        args: list[Any] | None = None
        if isinstance(data, str):
            # a subquery, not a view: the SQL may read Arrow data registered in this session
            source = f"({data}) AS _w"
            args = params
        elif isinstance(data, duckdb.DuckDBPyRelation):
            data.create_view(view, replace=True)
        else:
            _forensics_warn_data = data  # noqa: F841  (read by name: see insert)
            source = "_forensics_warn_data"
        try:
            total = self.con.execute(
                f"""
                WITH w AS (
                    SELECT locator::VARCHAR AS locator, reason::VARCHAR AS reason,
                           left(replace(excerpt::VARCHAR, chr(0), '\\x00'), {EXCERPT_LIMIT}) AS excerpt,
                           row_number() OVER (PARTITION BY reason ORDER BY locator) AS n,
                           count(*) OVER (PARTITION BY reason) AS total
                    FROM {source}
                )
                INSERT INTO parse_warnings BY NAME
                SELECT {int(self.evidence_id)} AS evidence_id, locator, reason, excerpt,
                       '{self.parser_name}' AS parser
                FROM w WHERE n <= {WARNINGS_PER_REASON}
                UNION ALL
                SELECT {int(self.evidence_id)}, NULL,
                       reason || ' (' || (total - {WARNINGS_PER_REASON}) || ' more not listed)', NULL,
                       '{self.parser_name}'
                FROM w WHERE n = 1 AND total > {WARNINGS_PER_REASON}
                """, args or []
            ).fetchall()[0][0]
            counted = self.con.execute(f"SELECT count(*) FROM {source}", args or []).fetchall()[0][0]
        finally:
            if source == view:
                self.con.execute(f"DROP VIEW IF EXISTS {view}")
        self.n_warnings += int(counted)
        return int(total)

    def add_entities(self, rows: Iterable[dict[str, Any]] | Any) -> int:
        """Add identity facts (kind, value, host, job, sandbox, valid_from, valid_to, attributes)
        found in this evidence. ``source`` defaults to the parser's name."""
        if isinstance(rows, list):
            rows = [{"source": self.parser_name, **row} for row in rows]
            for row in rows:
                if isinstance(row.get("attributes"), dict):
                    import json

                    row["attributes"] = json.dumps(row["attributes"], sort_keys=True)
        return self.insert("entities", rows)

    def flush_warnings(self) -> None:
        rows = [
            {"evidence_id": self.evidence_id, "locator": loc, "reason": reason,
             "excerpt": excerpt, "parser": self.parser_name}
            for loc, reason, excerpt in self._warnings
        ]
        for reason, count in sorted(self._suppressed.items()):
            rows.append({"evidence_id": self.evidence_id, "locator": None,
                         "reason": f"{reason} ({count} more not listed)", "excerpt": None,
                         "parser": self.parser_name})
        self._warnings.clear()
        self._suppressed.clear()
        if rows:
            import pyarrow as pa

            table = pa.Table.from_pylist(
                rows,
                schema=pa.schema([("evidence_id", pa.int32()), ("locator", pa.string()),
                                  ("reason", pa.string()), ("excerpt", pa.string()),
                                  ("parser", pa.string())]),
            )
            self.insert("parse_warnings", table)
