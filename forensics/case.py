"""The case: one DuckDB file holding every normalised record, finding and link of an investigation.

``Case`` is the library's front door, used the same way by the command line and by Jupyter::

    from forensics import Case
    with Case("case.duckdb") as case:
        case.ingest(["sample_logs/"])
        case.detect()
        case.query("detect/internal_probe", min_hosts=10)

The file is an ordinary DuckDB database: any DuckDB client can read it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import duckdb

from . import __version__
from . import queryfiles as query_files
from .context import Hints
from .errors import CaseError, QueryError
from .ingest import Ingestor, IngestSummary
from .registry import Parser, load_errors, parsers

if TYPE_CHECKING:  # pandas is imported where a frame is made: an ingest needs none (0.6 s)
    import pandas as pd

DEFAULT_CASE = "case.duckdb"
TIMELINE_COLUMNS = ["ts", "host", "source", "kind", "summary", "severity", "evidence_id", "locator"]


class Case:
    """An investigation's DuckDB case file (created with the schema when missing)."""

    def __init__(
        self,
        path: str | os.PathLike[str] = DEFAULT_CASE,
        read_only: bool = False,
        memory_limit: str | None = None,
        threads: int | None = None,
        tmp_dir: str | None = None,
    ) -> None:
        self.path = str(path)
        self.read_only = read_only
        self.tmp_dir = tmp_dir
        if read_only and not os.path.exists(self.path):
            raise CaseError(f"no case file at {self.path}")
        if self.path != ":memory:":
            parent = Path(self.path).resolve().parent
            if not parent.is_dir():
                raise CaseError(f"folder for the case file does not exist: {parent}")
        config: dict[str, Any] = {}
        if memory_limit:
            config["memory_limit"] = memory_limit
        if threads:
            config["threads"] = int(threads)
        try:
            self.con = duckdb.connect(self.path, read_only=read_only, config=config)
        except duckdb.IOException as exc:
            message = str(exc).splitlines()[0]
            if "lock" in message.lower():
                raise CaseError(f"case file {self.path} is open in another process (close it first)") from None
            raise CaseError(f"cannot open case file {self.path}: {message}") from None
        except duckdb.Error as exc:
            raise CaseError(f"cannot open case file {self.path}: {str(exc).splitlines()[0]}") from None
        # Spill large sorts and joins next to the case rather than into RAM.
        if tmp_dir:
            self.con.execute(f"SET temp_directory = '{tmp_dir}'")
        self.con.execute("SET TimeZone = 'UTC'")
        if not read_only:
            self._apply_schema()
        self.refresh_views()

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> "Case":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Case({self.path!r})"

    def _apply_schema(self) -> None:
        for query in query_files.discover("schema"):
            try:
                self.con.execute(query.sql)
            except duckdb.Error as exc:
                raise CaseError(f"schema file {query.name} failed: {str(exc).splitlines()[0]}") from None
        existing = dict(self.con.execute("SELECT key, value FROM case_meta").fetchall())
        if "created_with" not in existing:
            self.con.execute("INSERT INTO case_meta VALUES ('created_with', ?)", [__version__])

    def tables(self) -> list[str]:
        return [r[0] for r in self.con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
            "AND table_type = 'BASE TABLE' ORDER BY table_name").fetchall()]

    def refresh_views(self) -> None:
        """(Re)create the ``timeline`` view from ``queries/timeline/*.sql``: one SELECT per source,
        each giving ts, host, source, kind, summary, severity, evidence_id, locator."""
        parts = []
        for query in query_files.discover("timeline"):
            try:
                self.con.execute(f"SELECT * FROM ({query.sql}) LIMIT 0")
            except duckdb.Error:
                continue  # its source tables are not in this case (older schema)
            parts.append(f"SELECT {', '.join(TIMELINE_COLUMNS)} FROM ({query.sql})")
        if not parts:
            parts = ["SELECT NULL::TIMESTAMPTZ AS ts, NULL AS host, NULL AS source, NULL AS kind, "
                     "NULL AS summary, NULL AS severity, NULL::INTEGER AS evidence_id, NULL AS locator "
                     "WHERE false"]
        if not self.read_only:
            self.con.execute("CREATE OR REPLACE VIEW timeline AS " + "\nUNION ALL\n".join(parts))

    # ------------------------------------------------------------------ ingest
    def ingest(
        self,
        paths: list[str] | str,
        format: str | None = None,
        host: str | None = None,
        timezone: str | None = None,
        year: int | None = None,
        options: dict[str, str] | None = None,
        command: list[str] | None = None,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> IngestSummary:
        """Ingest evidence files and folders. Same bytes twice add nothing."""
        self._writable()
        if isinstance(paths, (str, os.PathLike)):
            paths = [str(paths)]
        if timezone:
            _check_timezone(timezone)
        ingestor = Ingestor(
            self.con, format_name=format, hints=Hints(host=host, timezone=timezone, year=year),
            options=options, tmp_dir=self.tmp_dir, command=command, progress=progress,
        )
        summary = ingestor.run([str(p) for p in paths])
        self.refresh_views()
        return summary

    @staticmethod
    def formats() -> list[Parser]:
        return parsers()

    @staticmethod
    def format_errors() -> dict[str, str]:
        return load_errors()

    # ------------------------------------------------------------------ queries
    def query(self, name: str, **params: Any) -> pd.DataFrame:
        """Run a query file by name (``detect/internal_probe``) or path; returns a DataFrame."""
        query = query_files.find(name)
        return self.run_query(query, params)

    def run_query(self, query: query_files.QueryFile, params: dict[str, Any] | None = None) -> pd.DataFrame:
        values = query.bind(params)
        try:
            return self.con.execute(query.sql, values).df()
        except duckdb.Error as exc:
            raise QueryError(f"query {query.name} failed: {str(exc).splitlines()[0]}") from None

    def sql(self, sql: str, params: list[Any] | dict[str, Any] | None = None) -> pd.DataFrame:
        """Run ad-hoc SQL against the case."""
        try:
            return self.con.execute(sql, params or []).df()
        except duckdb.Error as exc:
            raise QueryError(f"SQL failed: {str(exc).splitlines()[0]}") from None

    # ------------------------------------------------------------------ detections
    def detect(self, names: list[str] | None = None, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """Run the detection queries (``queries/detect/*.sql``) and replace their findings.

        Each detection returns rows shaped like ``findings`` (any subset of its columns);
        ``detector``, ``attack_ids`` (from the ``attack:`` header) and a stable ``finding_id`` are
        filled in. ``params`` are shared settings (e.g. ``gpu_hour_price``): each detection takes
        those it declares; a setting no detection declares is an error. Returns the number of
        findings per detector."""
        self._writable()
        params = dict(params or {})
        detections = [q for q in query_files.discover("detect")
                      if not names or q.name in names or q.name.rsplit("/", 1)[-1] in names]
        declared = {name for q in detections for name in q.params}
        unknown = sorted(set(params) - declared)
        if unknown:
            raise QueryError(f"no detection takes parameter {', '.join(unknown)} "
                             f"(they take: {', '.join(sorted(declared)) or 'none'})")
        counts = []
        finding_columns = [r[0] for r in self.con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'findings' "
            "ORDER BY ordinal_position").fetchall()]
        for query in detections:
            values = query.bind({k: v for k, v in params.items() if k in query.params})
            attack = [a.strip() for a in query.meta.get("attack", "").split(",") if a.strip()]
            self.con.begin()
            try:
                self.con.execute("DELETE FROM findings WHERE detector = ?", [query.name])
                relation = self.con.execute(f"SELECT * FROM ({query.sql}) LIMIT 0", values)
                produced = [d[0] for d in relation.description]
                unknown = sorted(set(produced) - set(finding_columns))
                if unknown:
                    raise QueryError(f"detection {query.name} returns columns findings lacks: {', '.join(unknown)}")
                extra = []
                if "detector" not in produced:
                    extra.append(f"'{query.name}' AS detector")
                if "attack_ids" not in produced:
                    extra.append(f"{_sql_list(attack)}::VARCHAR[] AS attack_ids")
                if "title" not in produced:
                    extra.append(f"{_sql_str(query.title)} AS title")
                select = ", ".join(["q.*"] + extra)
                self.con.execute(f"INSERT INTO findings BY NAME SELECT {select} FROM ({query.sql}) q", values)
                self.con.execute(
                    """UPDATE findings SET finding_id = substr(md5(concat_ws('|', detector, kind, host, src_ip,
                           dst_ip, dst_port, ts_start::VARCHAR, summary)), 1, 16)
                       WHERE detector = ? AND finding_id IS NULL""", [query.name])
                count = self.con.execute("SELECT count(*) FROM findings WHERE detector = ?",
                                         [query.name]).fetchone()[0]
                self.con.commit()
            except duckdb.Error as exc:
                self.con.rollback()
                raise QueryError(f"detection {query.name} failed: {str(exc).splitlines()[0]}") from None
            except BaseException:
                self.con.rollback()
                raise
            counts.append({"detector": query.name, "title": query.title, "findings": int(count)})
        self.refresh_views()
        import pandas as pd

        return pd.DataFrame(counts, columns=["detector", "title", "findings"])

    def findings(self, kind: str | None = None) -> pd.DataFrame:
        sql = "SELECT * FROM findings"
        args: list[Any] = []
        if kind:
            sql += " WHERE kind = ?"
            args.append(kind)
        return self.sql(sql + " ORDER BY ts_start, finding_id", args)

    # ------------------------------------------------------------------ the main job
    def investigate(self, paths: list[str] | str, params: dict[str, Any] | None = None,
                    **ingest_options: Any) -> dict[str, Any]:
        """Ingest, run every detection (and link stage), and return the investigation summary."""
        summary = self.ingest(paths, **ingest_options)
        return self.investigate_after_ingest(summary, params)

    def investigate_after_ingest(self, summary: IngestSummary | None = None,
                                 params: dict[str, Any] | None = None) -> dict[str, Any]:
        from . import correlate

        # shared settings go to the detections and the link stage that declare them
        params = dict(params or {})
        detect_declared = {name for q in query_files.discover("detect") for name in q.params}
        link_declared = correlate.declared_params()
        unknown = sorted(set(params) - detect_declared - link_declared)
        if unknown:
            raise QueryError(f"no detection or link query takes parameter {', '.join(unknown)} "
                             f"(they take: {', '.join(sorted(detect_declared | link_declared))})")
        detections = self.detect(params={k: v for k, v in params.items() if k in detect_declared})
        linked = self.link(params={k: v for k, v in params.items() if k in link_declared})
        result: dict[str, Any] = {"case": self.path}
        if summary is not None:
            result["ingest"] = {
                "run_id": summary.run_id,
                "new_evidence": summary.new_evidence,
                "records": summary.records,
                "warnings": summary.warnings,
                "unclaimed": [o.display_path for o in summary.unclaimed],
                "failed": [o.display_path for o in summary.outcomes if o.status == "failed"],
            }
        result["case_summary"] = self.summary()
        result["unclaimed_files"] = [r[0] for r in self.con.execute(
            "SELECT path || coalesce('!' || member, '') FROM evidence WHERE status = 'unclaimed' "
            "ORDER BY evidence_id").fetchall()]
        result["detections"] = detections.to_dict(orient="records")
        findings = self.con.execute(
            "SELECT ts_start, ts_end, severity, kind, host, src_ip, dst_ip, dst_port, summary, attack_ids, "
            "finding_id FROM findings ORDER BY ts_start NULLS LAST, finding_id").df()
        result["findings"] = json.loads(findings.to_json(orient="records", date_format="iso"))
        result["link"] = linked.as_dict()
        result["incidents"] = correlate.incident_records(self.con)
        result["unattributed"] = json.loads(self.unattributed().to_json(orient="records", date_format="iso"))
        result["explained_benign"] = json.loads(self.explained_benign().to_json(orient="records", date_format="iso"))
        return result

    # ------------------------------------------------------------------ correlation (forensics.correlate)
    def link(self, params: dict[str, Any] | None = None):
        """Estimate clock skew, link agent steps to their effects, chain incidents, answer their
        questions and list what is unattributed; see :mod:`forensics.correlate`. ``params`` are
        the link queries' settings (``link_window_s``, ``gpu_hour_price`` ...)."""
        from . import correlate

        self._writable()
        return correlate.link(self.con, params)

    def skew(self) -> pd.DataFrame:
        """Each host's clock offset (host minus reference), spread and number of pairs, per method;
        ``chosen`` marks the estimate the corrected views apply."""
        return self.sql("SELECT * FROM clock_offsets ORDER BY host, chosen DESC, method")

    def incidents(self) -> pd.DataFrame:
        """Incidents with their answers (JSON) and summary."""
        from . import correlate

        return correlate.incidents_frame(self.con)

    def links(self, incident: int | None = None, trajectory: str | None = None) -> pd.DataFrame:
        """Links from agent steps to effects (all, or one incident's or trajectory's)."""
        from . import correlate

        return correlate.links_frame(self.con, incident=incident, trajectory=trajectory)

    def exclusions(self) -> pd.DataFrame:
        """Trajectories to exclude from training data, with run, incident and reason."""
        from . import correlate

        return correlate.exclusions_frame(self.con)

    def unattributed(self) -> pd.DataFrame:
        """What is suspicious and that no agent step in evidence explains, with the reason."""
        return self.sql("SELECT * FROM unattributed ORDER BY ts_start NULLS LAST, kind, finding_id, src_ip")

    def explained_benign(self) -> pd.DataFrame:
        """Findings an agent step without suspicious indicators accounts for (neither incident nor
        unattributed), with the step and the reason."""
        return self.sql("SELECT * FROM explained_benign ORDER BY ts_start NULLS LAST, finding_id")

    # ------------------------------------------------------------------ views for people
    def timeline(self, since: str | None = None, until: str | None = None, host: str | None = None,
                 source: str | None = None, limit: int | None = None) -> pd.DataFrame:
        """The unified timeline (every source), oldest first, optionally filtered."""
        where, args = [], []
        if since:
            where.append("ts >= ?::TIMESTAMPTZ")
            args.append(since)
        if until:
            where.append("ts <= ?::TIMESTAMPTZ")
            args.append(until)
        if host:
            where.append("host = ?")
            args.append(host)
        if source:
            where.append("source = ?")
            args.append(source)
        sql = "SELECT * FROM timeline"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY ts NULLS LAST, source, evidence_id, locator"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return self.sql(sql, args)

    def evidence(self) -> pd.DataFrame:
        return self.sql(
            "SELECT evidence_id, path, member, status, format, n_records, n_warnings, size, sha256, "
            "host_hint, tz_hint FROM evidence ORDER BY evidence_id")

    def warnings(self, evidence_id: int | None = None, limit: int | None = None) -> pd.DataFrame:
        sql = ("SELECT w.evidence_id, coalesce(e.path || coalesce('!' || e.member, ''), '') AS path, "
               "w.locator, w.reason, w.excerpt FROM parse_warnings w LEFT JOIN evidence e USING (evidence_id)")
        args: list[Any] = []
        if evidence_id is not None:
            sql += " WHERE w.evidence_id = ?"
            args.append(evidence_id)
        sql += " ORDER BY w.evidence_id, w.locator NULLS LAST, w.reason"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return self.sql(sql, args)

    def summary(self) -> dict[str, Any]:
        """Counts a responder checks first: evidence by status, rows per table, findings by kind."""
        status = dict(self.con.execute(
            "SELECT status, count(*) FROM evidence GROUP BY status ORDER BY status").fetchall())
        rows = {}
        for table in self.tables():
            if table in ("case_meta",):
                continue
            rows[table] = int(self.con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0])
        findings = dict(self.con.execute(
            "SELECT kind, count(*) FROM findings GROUP BY kind ORDER BY kind").fetchall())
        return {"evidence": status, "rows": rows, "findings": findings}

    # ------------------------------------------------------------------ reports, figures, exports
    def report(self, out_dir: str | os.PathLike[str] = "report", **options: Any):
        """Write the report (md, html, json, manifest, section SQL, figures) into ``out_dir``;
        see :func:`forensics.report.build_report` for the options."""
        from .report import build_report

        return build_report(self.con, self.path, out_dir, **options)

    def plot_timeline(self, host: str | None = None, start: Any = None, end: Any = None, **options: Any):
        """The timeline figure (GPU utilisation, agent steps, sessions, alerts) of one host;
        see :func:`forensics.report.plot.plot_timeline`."""
        from .report.plot import plot_timeline

        return plot_timeline(self.con, host=host, start=start, end=end, **options)

    def indicators(self) -> pd.DataFrame:
        """Indicators of compromise (IPs, domains, pool URLs, wallets, hashes, HASSH) with ATT&CK ids."""
        from .report.export import indicators

        return indicators(self.con)

    def export(self, kind: str, out: str | os.PathLike[str], **options: Any) -> dict[str, Any]:
        """Export the case: ``timesketch`` (JSONL or CSV file), ``parquet`` (folder, per table and
        day) or ``iocs`` (folder: indicators CSV and STIX 2.1 bundle); returns what was written."""
        from .report.export import export

        return export(self.con, kind, out, **options)

    # ------------------------------------------------------------------ helpers
    def _writable(self) -> None:
        if self.read_only:
            raise CaseError(f"case {self.path} is open read-only")


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _sql_list(values: list[str]) -> str:
    return "[" + ", ".join(_sql_str(v) for v in values) + "]"


def _check_timezone(name: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CaseError(f"unknown time zone {name!r} (use an IANA name such as Asia/Shanghai or UTC)") from None


def to_json_records(frame: pd.DataFrame) -> str:
    return json.dumps(json.loads(frame.to_json(orient="records", date_format="iso")), ensure_ascii=True)
