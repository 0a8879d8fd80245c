"""Exports for other tools: Timesketch, Parquet, and indicators as CSV and STIX 2.1.

* ``timesketch``: the unified timeline as Timesketch JSONL or CSV (``queries/export/timesketch.sql``:
  message, datetime, timestamp, timestamp_desc plus our fields), written by DuckDB's COPY so a
  timeline of millions of events streams to disk without passing through Python.
* ``parquet``: every table of the case (and the ``timeline`` view) as Parquet, partitioned by UTC
  day of its time column (``<table>/day=YYYY-MM-DD/data_0.parquet``; rows without a time go to
  ``day=none``), readable by DuckDB, Spark or Trino with hive partitioning. ``tables.json`` lists
  the row count of each, to check a copy against.
* ``iocs``: indicators (IPs, domains, URLs including pool URLs, wallets, hashes, HASSH, JA3) from
  ``queries/indicators/*.sql`` (each query reads one source; a query whose table is missing is
  skipped), aggregated per value with their ATT&CK ids, as ``indicators.csv`` and a STIX 2.1
  bundle ``indicators.stix.json`` (indicators, ATT&CK attack-patterns, "indicates" relationships).
  STIX ids are UUIDv5 of the content, so the same case gives the same bundle.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from .. import __version__, queryfiles
from ..errors import ForensicsError, QueryError
from .values import iso_utc, plain

KINDS = ("timesketch", "parquet", "iocs")
STIX_NAMESPACE = uuid.UUID("6f4b1c2e-8d1a-5b7e-9c3f-2a1d0e5b7c90")
INDICATOR_COLUMNS = ["type", "value", "kinds", "attack_ids", "first_seen", "last_seen", "sightings", "sources",
                     "evidence_file", "evidence_sha256", "locator"]

# ATT&CK techniques our detections use, for readable attack-pattern names in the STIX bundle.
ATTACK_NAMES = {
    "T1016": "System Network Configuration Discovery",
    "T1018": "Remote System Discovery",
    "T1021": "Remote Services",
    "T1021.004": "Remote Services: SSH",
    "T1033": "System Owner/User Discovery",
    "T1041": "Exfiltration Over C2 Channel",
    "T1046": "Network Service Discovery",
    "T1048": "Exfiltration Over Alternative Protocol",
    "T1053": "Scheduled Task/Job",
    "T1053.003": "Scheduled Task/Job: Cron",
    "T1057": "Process Discovery",
    "T1059": "Command and Scripting Interpreter",
    "T1059.004": "Command and Scripting Interpreter: Unix Shell",
    "T1070": "Indicator Removal",
    "T1071": "Application Layer Protocol",
    "T1082": "System Information Discovery",
    "T1090": "Proxy",
    "T1098.004": "Account Manipulation: SSH Authorized Keys",
    "T1105": "Ingress Tool Transfer",
    "T1110": "Brute Force",
    "T1190": "Exploit Public-Facing Application",
    "T1496": "Resource Hijacking",
    "T1496.001": "Resource Hijacking: Compute Hijacking",
    "T1552": "Unsecured Credentials",
    "T1562": "Impair Defenses",
    "T1571": "Non-Standard Port",
    "T1572": "Protocol Tunneling",
}

STIX_PATTERNS = {
    "ipv4": "[ipv4-addr:value = '{v}']",
    "ipv6": "[ipv6-addr:value = '{v}']",
    "domain": "[domain-name:value = '{v}']",
    "url": "[url:value = '{v}']",
    "sha256": "[file:hashes.'SHA-256' = '{v}']",
    "md5": "[file:hashes.MD5 = '{v}']",
    "wallet": "[x-cryptocurrency-wallet:value = '{v}']",
    "hassh": "[network-traffic:extensions.'x-ssh-ext'.hassh = '{v}']",
    "ja3": "[network-traffic:extensions.'x-tls-ext'.ja3 = '{v}']",
}


# ---------------------------------------------------------------------------------------- helpers
def _sql_path(path: str | os.PathLike[str]) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _prepare_target(path: Path, overwrite: bool, is_dir: bool) -> None:
    if path.exists():
        if not overwrite:
            raise ForensicsError(f"{path} already exists (use overwrite to replace it)")
        if is_dir and path.is_dir():
            shutil.rmtree(path)
        elif path.is_file():
            path.unlink()
    (path if is_dir else path.parent).mkdir(parents=True, exist_ok=True)


def _time_column(con: duckdb.DuckDBPyConnection, name: str) -> str | None:
    rows = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'main' "
        "AND table_name = ? ORDER BY ordinal_position", [name]).fetchall()
    types = {c: t.upper() for c, t in rows}
    for candidate in ("ts", "ts_start", "started_at", "valid_from"):
        if candidate in types and types[candidate].startswith("TIMESTAMP"):
            return candidate
    return None


# ---------------------------------------------------------------------------------------- timesketch
def export_timesketch(con: duckdb.DuckDBPyConnection, out: str | os.PathLike[str], fmt: str | None = None,
                      overwrite: bool = False) -> dict[str, Any]:
    """Write the timeline as Timesketch JSONL (``.jsonl``) or CSV (``.csv``)."""
    path = Path(out)
    fmt = (fmt or ("csv" if path.suffix.lower() == ".csv" else "jsonl")).lower()
    if fmt not in ("jsonl", "csv"):
        raise ForensicsError(f"unknown Timesketch format {fmt!r} (use jsonl or csv)")
    query = queryfiles.find("export/timesketch")
    _prepare_target(path, overwrite, is_dir=False)
    options = "FORMAT json" if fmt == "jsonl" else "FORMAT csv, HEADER true"
    try:
        con.execute(f"COPY ({query.sql}) TO {_sql_path(path)} ({options})")
        written = con.execute(f"SELECT count(*) FROM ({query.sql})").fetchone()[0]
        total = con.execute("SELECT count(*), count(*) FILTER (WHERE ts IS NULL) FROM timeline").fetchone()
    except duckdb.Error as exc:
        raise QueryError(f"Timesketch export failed: {str(exc).splitlines()[0]}") from None
    return {"kind": "timesketch", "format": fmt, "path": str(path), "events": int(written),
            "timeline_events": int(total[0]), "left_out_without_time": int(total[1])}


# ---------------------------------------------------------------------------------------- parquet
def export_parquet(con: duckdb.DuckDBPyConnection, out: str | os.PathLike[str], overwrite: bool = False,
                   tables: list[str] | None = None) -> dict[str, Any]:
    """Every table (and the timeline view) as Parquet, partitioned by UTC day of its time column."""
    root = Path(out)
    if root.exists() and any(root.iterdir()) and not overwrite:
        raise ForensicsError(f"{root} already exists and is not empty (use overwrite to replace it)")
    available = [r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
        "AND (table_type = 'BASE TABLE' OR table_name = 'timeline') ORDER BY table_name").fetchall()]
    if tables:
        unknown = sorted(set(tables) - set(available))
        if unknown:
            raise ForensicsError(f"no table {', '.join(unknown)} in the case")
        available = [t for t in available if t in tables]
    root.mkdir(parents=True, exist_ok=True)
    written: dict[str, Any] = {}
    for name in available:
        target = root / name
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        rows = int(con.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0])
        column = _time_column(con, name)
        try:
            if column and rows:
                con.execute(
                    f"""COPY (SELECT *, coalesce(strftime("{column}", '%Y-%m-%d'), 'none') AS day FROM "{name}")
                        TO {_sql_path(target)} (FORMAT parquet, PARTITION_BY (day), OVERWRITE_OR_IGNORE true)""")
            else:
                con.execute(f'COPY (SELECT * FROM "{name}") TO {_sql_path(target / "data_0.parquet")} '
                            "(FORMAT parquet)")
        except duckdb.Error as exc:
            raise QueryError(f"Parquet export of {name} failed: {str(exc).splitlines()[0]}") from None
        partitions = sorted(p.name for p in target.iterdir() if p.is_dir())
        written[name] = {"rows": rows, "partitioned_by": f"day of {column}" if column and rows else None,
                         "partitions": partitions}
    manifest = {"tool_version": __version__, "layout": "<table>/day=YYYY-MM-DD/*.parquet (hive partitioning)",
                "tables": written}
    (root / "tables.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return {"kind": "parquet", "path": str(root), "tables": written}


# ---------------------------------------------------------------------------------------- indicators
def indicator_queries() -> list[queryfiles.QueryFile]:
    return queryfiles.discover("indicators")


def indicators(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Indicators aggregated per (type, value): kinds, ATT&CK ids, first/last seen, sightings and
    the first evidence (file, SHA-256, locator) that shows it."""
    parts = []
    for query in indicator_queries():
        sql = (f"SELECT type::VARCHAR AS type, value::VARCHAR AS value, kind::VARCHAR AS kind, "
               f"attack_ids::VARCHAR[] AS attack_ids, first_seen::TIMESTAMPTZ AS first_seen, "
               f"last_seen::TIMESTAMPTZ AS last_seen, source::VARCHAR AS source, "
               f"evidence_id::INTEGER AS evidence_id, locator::VARCHAR AS locator FROM ({query.sql})")
        try:
            con.execute(f"SELECT * FROM ({sql}) LIMIT 0")
        except duckdb.Error:
            continue  # its source table is not in this case
        parts.append(sql)
    if not parts:
        return pd.DataFrame(columns=INDICATOR_COLUMNS)
    union = "\nUNION ALL\n".join(parts)
    sql = f"""
        WITH raw AS ({union}),
        typed AS (
            SELECT CASE WHEN type = 'ip' THEN CASE WHEN contains(value, ':') THEN 'ipv6' ELSE 'ipv4' END
                        ELSE type END AS type,
                   trim(value) AS value, kind, coalesce(attack_ids, []::VARCHAR[]) AS attack_ids,
                   first_seen, last_seen, source, evidence_id, locator
            FROM raw WHERE value IS NOT NULL AND trim(value) <> ''
        )
        SELECT t.type, t.value,
               list(DISTINCT t.kind ORDER BY t.kind) FILTER (WHERE t.kind IS NOT NULL) AS kinds,
               list_sort(list_distinct(flatten(list(t.attack_ids)))) AS attack_ids,
               min(t.first_seen) AS first_seen, max(coalesce(t.last_seen, t.first_seen)) AS last_seen,
               count(*) AS sightings, list(DISTINCT t.source ORDER BY t.source) AS sources,
               arg_min(e.path || coalesce('!' || e.member, ''),
                       (t.first_seen, t.evidence_id, t.locator)) AS evidence_file,
               arg_min(e.sha256, (t.first_seen, t.evidence_id, t.locator)) AS evidence_sha256,
               arg_min(t.locator, (t.first_seen, t.evidence_id, t.locator)) AS locator
        FROM typed t LEFT JOIN evidence e USING (evidence_id)
        GROUP BY t.type, t.value
        ORDER BY t.type, t.value"""
    try:
        return con.execute(sql).df()
    except duckdb.Error as exc:
        raise QueryError(f"indicator queries failed: {str(exc).splitlines()[0]}") from None


def _stix_time(value: Any) -> str:
    when = value if isinstance(value, dt.datetime) else None
    if when is None and value is not None and not (isinstance(value, float) or value is pd.NaT):
        when = pd.Timestamp(value).to_pydatetime()
    if when is None:
        when = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    when = when.astimezone(dt.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _stix_id(kind: str, *parts: str) -> str:
    return f"{kind}--{uuid.uuid5(STIX_NAMESPACE, kind + '|' + '|'.join(parts))}"


def _pattern_literal(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def _listed(value: Any) -> list[Any]:
    if value is None:
        return []
    if hasattr(value, "tolist"):
        value = value.tolist()
    return [v for v in value if v is not None]


def stix_bundle(frame: pd.DataFrame, created: Any = None) -> dict[str, Any]:
    """A STIX 2.1 bundle: one indicator per row, one attack-pattern per ATT&CK id, and an
    ``indicates`` relationship from each indicator to each of its techniques."""
    records = frame.to_dict(orient="records")
    created_at = _stix_time(created if created is not None else
                            min((r["first_seen"] for r in records if r["first_seen"] is not None
                                 and r["first_seen"] is not pd.NaT), default=None))
    identity_id = _stix_id("identity", "cluster-forensics")
    objects: list[dict[str, Any]] = [{
        "type": "identity", "spec_version": "2.1", "id": identity_id, "created": created_at,
        "modified": created_at, "name": "cluster-forensics", "identity_class": "system",
        "description": "Offline forensic analyser for the logs of GPU training clusters",
    }]
    techniques = sorted({t for r in records for t in _listed(r["attack_ids"])})
    pattern_ids = {}
    for technique in techniques:
        pattern_ids[technique] = _stix_id("attack-pattern", technique)
        base = technique.split(".")[0]
        url = f"https://attack.mitre.org/techniques/{base}/" + (
            f"{technique.split('.')[1]}/" if "." in technique else "")
        objects.append({
            "type": "attack-pattern", "spec_version": "2.1", "id": pattern_ids[technique],
            "created_by_ref": identity_id, "created": created_at, "modified": created_at,
            "name": ATTACK_NAMES.get(technique, technique),
            "external_references": [{"source_name": "mitre-attack", "external_id": technique, "url": url}],
        })
    relationships = []
    for record in records:
        kind, value = record["type"], str(record["value"])
        template = STIX_PATTERNS.get(kind)
        if template is None:
            continue
        indicator_id = _stix_id("indicator", kind, value)
        first = _stix_time(record["first_seen"]) if record["first_seen"] is not pd.NaT else created_at
        kinds = _listed(record["kinds"])
        attack = _listed(record["attack_ids"])
        description = (f"{kind} seen {int(record['sightings'])} time(s) in {', '.join(_listed(record['sources']))}"
                       + (f" as {', '.join(kinds)}" if kinds else "")
                       + (f"; first evidence {record['evidence_file']} at {record['locator']} "
                          f"(sha256 {record['evidence_sha256']})" if record.get("evidence_file") else ""))
        indicator = {
            "type": "indicator", "spec_version": "2.1", "id": indicator_id, "created_by_ref": identity_id,
            "created": created_at, "modified": created_at, "name": f"{kind} {value}"[:250],
            "description": description, "indicator_types": ["malicious-activity"],
            "pattern": template.format(v=_pattern_literal(value)), "pattern_type": "stix",
            "pattern_version": "2.1", "valid_from": first,
        }
        if kinds:
            indicator["labels"] = kinds
        if attack:
            indicator["external_references"] = [
                {"source_name": "mitre-attack", "external_id": t} for t in attack]
        objects.append(indicator)
        for technique in attack:
            relationships.append({
                "type": "relationship", "spec_version": "2.1",
                "id": _stix_id("relationship", indicator_id, "indicates", pattern_ids[technique]),
                "created_by_ref": identity_id, "created": created_at, "modified": created_at,
                "relationship_type": "indicates", "source_ref": indicator_id, "target_ref": pattern_ids[technique],
            })
    objects.extend(relationships)
    content = json.dumps(objects, sort_keys=True)
    return {"type": "bundle", "id": _stix_id("bundle", content), "objects": objects}


def export_iocs(con: duckdb.DuckDBPyConnection, out: str | os.PathLike[str], overwrite: bool = False) -> dict[str, Any]:
    """``indicators.csv`` and ``indicators.stix.json`` in the folder ``out``."""
    root = Path(out)
    csv_path, stix_path = root / "indicators.csv", root / "indicators.stix.json"
    for path in (csv_path, stix_path):
        if path.exists() and not overwrite:
            raise ForensicsError(f"{path} already exists (use overwrite to replace it)")
    root.mkdir(parents=True, exist_ok=True)
    frame = indicators(con)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(INDICATOR_COLUMNS)
    for record in frame.to_dict(orient="records"):
        row = []
        for column in INDICATOR_COLUMNS:
            value = record.get(column)
            if column in ("kinds", "attack_ids", "sources"):
                row.append(";".join(str(v) for v in _listed(value)))
            elif value is None or value is pd.NaT or (isinstance(value, float) and value != value):
                row.append("")
            elif isinstance(value, (dt.datetime, pd.Timestamp)):
                row.append(iso_utc(pd.Timestamp(value).to_pydatetime()))
            else:
                row.append(str(plain(value)))
        writer.writerow(row)
    csv_path.write_text(buffer.getvalue(), encoding="utf-8")
    created = None
    try:
        created = con.execute("SELECT max(ingested_at) FROM evidence").fetchone()[0]
    except duckdb.Error:
        pass
    bundle = stix_bundle(frame, created=created)
    stix_path.write_text(json.dumps(bundle, indent=1, ensure_ascii=True) + "\n", encoding="utf-8")
    by_type = frame.groupby("type").size().to_dict() if len(frame) else {}
    return {"kind": "iocs", "path": str(root), "indicators": int(len(frame)),
            "by_type": {k: int(v) for k, v in sorted(by_type.items())},
            "files": [str(csv_path), str(stix_path)],
            "stix_objects": len(bundle["objects"])}


def export(con: duckdb.DuckDBPyConnection, kind: str, out: str | os.PathLike[str], **options: Any) -> dict[str, Any]:
    if kind == "timesketch":
        return export_timesketch(con, out, **options)
    if kind == "parquet":
        return export_parquet(con, out, **options)
    if kind == "iocs":
        return export_iocs(con, out, **options)
    raise ForensicsError(f"unknown export {kind!r} (use {', '.join(KINDS)})")
