"""Report sections: one query file in ``queries/report/`` per section, run against the case.

A section file is an ordinary query file (see :mod:`forensics.queryfiles`) whose header may also
say how to show it::

    -- title: Parse warnings
    -- description: Every rejected or doubtful record ...
    -- layout: table            (table | record | plot)
    -- empty: show              (show: an empty result is a statement; omit: drop the section)
    -- max_rows: 500            (rows shown; the rest are counted, never hidden silently)
    -- heading: severity, title (record layout: the columns that title each record)
    -- group: incident_id       (one sub-table per value of this column, in row order)
    -- skip_if_rows_in: incidents   (leave the section out when that table has rows: a fallback
                                     for cases the richer section does not cover)

A section whose tables are not in the case (an older or partial case) is skipped and listed as
skipped with the reason; any other SQL error is a bug and raised. Sections are found by glob and
run in file-name order; nothing in Python lists them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import duckdb

from .. import queryfiles
from ..errors import QueryError
from .values import parse_json_column, plain

DEFAULT_MAX_ROWS = 1000
LAYOUTS = ("table", "record", "plot")


@dataclass
class Column:
    name: str
    type: str


@dataclass
class Section:
    """One section's result, with everything needed to re-run it."""

    query: queryfiles.QueryFile
    params: dict[str, Any]
    columns: list[Column]
    rows: list[list[Any]]  # plain values (see values.plain), at most max_rows of them
    row_count: int  # every row the query gave
    layout: str = "table"
    plots: list["PlotImage"] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.query.name

    @property
    def slug(self) -> str:
        return self.query.name.rsplit("/", 1)[-1]

    @property
    def anchor(self) -> str:
        return "s-" + "".join(c if c.isalnum() else "-" for c in self.slug)

    @property
    def title(self) -> str:
        return self.query.title

    @property
    def description(self) -> str:
        return self.query.description

    @property
    def sql_file(self) -> str:
        """Where the section's SQL is written next to the report (relative path)."""
        return f"sql/{self.query.name}.sql"

    @property
    def group_column(self) -> str | None:
        wanted = self.query.meta.get("group", "").strip()
        return wanted if wanted in [c.name for c in self.columns] else None

    def groups(self) -> list[tuple[Any, list[list[Any]]]]:
        """Rows split by the group column, groups in order of first appearance."""
        column = self.group_column
        if column is None:
            return [(None, self.rows)]
        index = [c.name for c in self.columns].index(column)
        found: dict[Any, list[list[Any]]] = {}
        for row in self.rows:
            key = row[index]
            found.setdefault(key if not isinstance(key, (list, dict)) else str(key), []).append(row)
        return list(found.items())

    @property
    def truncated(self) -> bool:
        return self.row_count > len(self.rows)

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip((c.name for c in self.columns), row)) for row in self.rows]


@dataclass
class PlotImage:
    """A figure drawn for one row of a plot section."""

    file: str  # relative path of the PNG next to the report
    png: bytes
    caption: str
    facts: dict[str, Any]


@dataclass
class SkippedSection:
    name: str
    title: str
    reason: str


def report_queries() -> list[queryfiles.QueryFile]:
    return queryfiles.discover("report")


def declared_params(queries: list[queryfiles.QueryFile]) -> dict[str, queryfiles.Param]:
    found: dict[str, queryfiles.Param] = {}
    for query in queries:
        for name, param in query.params.items():
            found.setdefault(name, param)
    return found


def _max_rows(query: queryfiles.QueryFile, given: int | None) -> int:
    """Rows to show: the caller's limit when given, else the section's own, else the default."""
    if given is not None:
        return given
    text = query.meta.get("max_rows", "").strip()
    if not text:
        return DEFAULT_MAX_ROWS
    try:
        return max(0, int(text))
    except ValueError:
        raise QueryError(f"report section {query.name}: max_rows must be a whole number, not {text!r}") from None


def _missing_table(exc: duckdb.Error) -> bool:
    message = str(exc)
    return isinstance(exc, duckdb.CatalogException) or "does not exist" in message


_MASKED = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/", re.S)


def without_final_order_by(sql: str) -> str:
    """The query without its last top-level ORDER BY (counting rows needs no order), unless a
    LIMIT, OFFSET, FETCH or QUALIFY follows it (then the order decides which rows count)."""
    masked = list(_MASKED.sub(lambda m: " " * len(m.group(0)), sql))
    depth = 0
    for i, ch in enumerate(masked):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif depth > 0:
            masked[i] = " "
    top = "".join(masked)
    found = list(re.finditer(r"\bORDER\s+BY\b", top, re.I))
    if not found:
        return sql
    tail = top[found[-1].end():]
    if re.search(r"\b(LIMIT|OFFSET|FETCH|QUALIFY|UNION|EXCEPT|INTERSECT)\b", tail, re.I):
        return sql
    return sql[:found[-1].start()]


def _has_rows(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    exists = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'main' "
                         "AND table_name = ?", [table]).fetchone()[0]
    if not exists:
        return False
    return con.execute(f'SELECT EXISTS (SELECT 1 FROM "{table}")').fetchone()[0]


def run_section(con: duckdb.DuckDBPyConnection, query: queryfiles.QueryFile, params: dict[str, Any],
                max_rows: int | None = None) -> Section | SkippedSection:
    """Run one section query, keeping at most ``max_rows`` rows (and counting the rest)."""
    layout = query.meta.get("layout", "table").strip() or "table"
    if layout not in LAYOUTS:
        raise QueryError(f"report section {query.name}: unknown layout {layout!r} (use {', '.join(LAYOUTS)})")
    values = query.bind({k: v for k, v in params.items() if k in query.params})
    covered_by = query.meta.get("skip_if_rows_in", "").strip()
    if covered_by and _has_rows(con, covered_by):
        return SkippedSection(query.name, query.title, f"{covered_by} has rows: the sections on it cover this")
    limit = _max_rows(query, max_rows)
    try:
        # An outer LIMIT lets DuckDB keep only the top rows of the section's ORDER BY (a top-N)
        # instead of sorting every row of a large table; the order of what it keeps is the same.
        result = con.execute(f"SELECT * FROM ({query.sql}\n) LIMIT {limit + 1}", values)
        description = result.description
        fetched = result.fetchall()
    except duckdb.Error as exc:
        if _missing_table(exc):
            return SkippedSection(query.name, query.title, str(exc).splitlines()[0])
        raise QueryError(f"report section {query.name} failed: {str(exc).splitlines()[0]}") from None
    columns = [Column(d[0], str(d[1])) for d in description]
    row_count = len(fetched)
    if row_count > limit:
        fetched = fetched[:limit]
        try:
            row_count = int(con.execute(f"SELECT count(*) FROM ({without_final_order_by(query.sql)}\n)",
                                        values).fetchone()[0])
        except duckdb.Error as exc:
            raise QueryError(f"report section {query.name} failed: {str(exc).splitlines()[0]}") from None
    json_columns = [i for i, c in enumerate(columns) if c.type.upper() == "JSON"]
    rows = []
    for raw in fetched:
        row = list(raw)
        for i in json_columns:
            row[i] = parse_json_column(row[i])
        rows.append([plain(v) for v in row])
    return Section(query=query, params=values, columns=columns, rows=rows, row_count=row_count, layout=layout)


def run_sections(con: duckdb.DuckDBPyConnection, params: dict[str, Any] | None = None,
                 max_rows: int | None = None, only: list[str] | None = None,
                 ) -> tuple[list[Section], list[SkippedSection]]:
    """Run every report section (or ``only`` these names); returns the shown and skipped ones.
    ``max_rows`` caps every section; without it each section shows its own ``max_rows`` (or 1000)."""
    queries = report_queries()
    if only:
        wanted = set(only)
        queries = [q for q in queries if q.name in wanted or q.name.rsplit("/", 1)[-1] in wanted]
    params = dict(params or {})
    unknown = sorted(set(params) - set(declared_params(queries)))
    if unknown:
        known = ", ".join(sorted(declared_params(queries))) or "none"
        raise QueryError(f"no report section takes parameter {', '.join(unknown)} (they take: {known})")
    shown: list[Section] = []
    skipped: list[SkippedSection] = []
    for query in queries:
        result = run_section(con, query, params, max_rows)
        if isinstance(result, SkippedSection):
            skipped.append(result)
        elif result.row_count == 0 and query.meta.get("empty", "show").strip() == "omit":
            skipped.append(SkippedSection(query.name, query.title, "no rows in this case"))
        else:
            shown.append(result)
    return shown, skipped
