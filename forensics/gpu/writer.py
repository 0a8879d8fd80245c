"""Writing GPU rows: bounded Arrow batches for rows built in Python, and the entities every GPU
parser derives from what it loaded.

Rows carry identifiers as the source wrote them; the insert normalises them in SQL
(``gpu_uuid_norm``, ``gpu_bus_id``) and turns local stamps into UTC with the file's time-zone
hint, so every parser, Python or SQL, ends up with the same spelling of a GPU and a time.
"""

from __future__ import annotations

import json
import uuid as uuid_module
from typing import Any

import pyarrow as pa

from forensics.context import ParseContext, sql_string

from .fields import NUMERIC_SAMPLE_COLUMNS

BATCH_ROWS = 50_000

_IDENTITY = [
    ("ts", pa.timestamp("us", tz="UTC")),
    ("ts_local", pa.timestamp("us")),  # naive local time, converted with the zone hint
    ("ts_raw", pa.string()),
    ("ts_inferred", pa.bool_()),
    ("host", pa.string()),
    ("gpu_uuid", pa.string()),
    ("pci_bus_id", pa.string()),
    ("gpu_index", pa.int32()),
    ("index_kind", pa.string()),
]
_TAIL = [
    ("labels", pa.string()),
    ("extra", pa.string()),
    ("source_format", pa.string()),
    ("locator", pa.string()),
]

SCHEMAS: dict[str, pa.Schema] = {
    "gpu_samples": pa.schema(
        _IDENTITY
        + [("gpu_model", pa.string()), ("mig_instance", pa.string())]
        + [(c, pa.float64()) for c in NUMERIC_SAMPLE_COLUMNS]
        + [("pod", pa.string()), ("namespace", pa.string()), ("container", pa.string()), ("job", pa.string())]
        + _TAIL
    ),
    "gpu_processes": pa.schema(
        _IDENTITY
        + [("mig_instance", pa.string()), ("pid", pa.int64()), ("process_name", pa.string()),
           ("process_type", pa.string()), ("record_kind", pa.string()), ("used_mib", pa.float64()),
           ("sm_util", pa.float64()), ("mem_util", pa.float64()), ("enc_util", pa.float64()),
           ("dec_util", pa.float64()), ("duration_ms", pa.int64()), ("start_time", pa.timestamp("us", tz="UTC")),
           ("is_running", pa.bool_()), ("cmdline", pa.string()), ("pod", pa.string()),
           ("namespace", pa.string()), ("container", pa.string()), ("job", pa.string())]
        + _TAIL
    ),
    "gpu_events": pa.schema(
        _IDENTITY
        + [("event", pa.string()), ("xid", pa.int32()), ("pid", pa.int64()), ("detail", pa.string()),
           ("source_format", pa.string()), ("locator", pa.string())]
    ),
}


def json_or_none(value: dict[str, Any] | None) -> str | None:
    if not value:
        return None
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


class GpuWriter:
    """Collects rows per GPU table and writes them in batches of ``BATCH_ROWS``."""

    def __init__(self, ctx: ParseContext, source_format: str | None = None, zone: str | None = None) -> None:
        self.ctx = ctx
        self.source_format = source_format or ctx.parser_name
        self.zone = zone  # the zone of local stamps when the file itself says (else the hint)
        # GPU index -> UUID in this file's own numbering (e.g. the -L section of a capture).
        self.uuid_by_index: dict[int, str] = {}
        self.rows: dict[str, list[dict[str, Any]]] = {name: [] for name in SCHEMAS}
        self.counts: dict[str, int] = {name: 0 for name in SCHEMAS}
        self.local_times_without_zone = 0

    def add(self, table: str, **row: Any) -> None:
        if isinstance(row.get("labels"), dict):
            row["labels"] = json_or_none(row["labels"])
        if isinstance(row.get("extra"), dict):
            row["extra"] = json_or_none(row["extra"])
        if not row.get("gpu_uuid") and row.get("gpu_index") is not None and self.uuid_by_index:
            row["gpu_uuid"] = self.uuid_by_index.get(row["gpu_index"])
        if row.get("ts_local") is not None and row.get("ts") is None:
            row.setdefault("ts_inferred", True)
            if not self.ctx.hints.timezone and not self.zone:
                self.local_times_without_zone += 1
        row.setdefault("source_format", self.source_format)
        bucket = self.rows[table]
        bucket.append(row)
        if len(bucket) >= BATCH_ROWS:
            self.flush(table)

    def flush(self, table: str | None = None) -> None:
        for name in ([table] if table else list(SCHEMAS)):
            rows = self.rows[name]
            if not rows:
                continue
            schema = SCHEMAS[name]
            arrow = pa.Table.from_pylist(rows, schema=schema)
            self.rows[name] = []
            self.counts[name] += insert_normalised(self.ctx, name, arrow, zone=self.zone)

    def close(self) -> dict[str, int]:
        self.flush()
        if self.local_times_without_zone:
            self.ctx.warn(None, "local time stamps without a time-zone hint were taken as UTC "
                          f"({self.local_times_without_zone} rows; give --tz or an inventory timezone)")
        return dict(self.counts)


def insert_normalised(ctx: ParseContext, table: str, data: Any, zone: str | None = None) -> int:
    """Insert Arrow (or a registered relation) into a GPU table, normalising GPU ids and times."""
    name = f"_gpu_rows_{uuid_module.uuid4().hex[:12]}"
    ctx.con.register(name + "_in", data)
    try:
        columns = set(data.schema.names) if hasattr(data, "schema") else set()
        # A view in the case file cannot read a Python object: stage the batch in a temp table.
        ctx.con.execute(f"CREATE TEMP TABLE {name} AS {normalising_select(ctx, name + '_in', columns, zone)}")
        return ctx.insert(table, f"SELECT * FROM {name}")
    finally:
        ctx.con.unregister(name + "_in")
        ctx.con.execute(f"DROP TABLE IF EXISTS {name}")


def zone_sql(ctx: ParseContext, zone: str | None = None) -> str:
    return sql_string(zone or ctx.hints.timezone or "UTC")


def normalising_select(ctx: ParseContext, source: str, columns: set[str], zone: str | None = None) -> str:
    """SELECT over ``source`` that fills ts from ts_local, normalises UUIDs and bus ids."""
    replace = ["gpu_uuid_norm(gpu_uuid) AS gpu_uuid", "gpu_bus_id(pci_bus_id) AS pci_bus_id"]
    if "ts" in columns and "ts_local" in columns:
        replace.append(f"coalesce(ts, timezone({zone_sql(ctx, zone)}, ts_local)) AS ts")
    exclude = " EXCLUDE (ts_local)" if "ts_local" in columns else ""
    host = sql_string(ctx.hints.host) if ctx.hints.host else "NULL"
    replace.append(f"coalesce(host, {host}) AS host")
    return f"SELECT *{exclude} REPLACE ({', '.join(replace)}) FROM {source}"


def derive_entities(ctx: ParseContext, rows_sql: str | None = None, workload: bool = True) -> int:
    """Identity facts from the GPU rows this evidence file produced (or from ``rows_sql``, the
    same identities as the parser staged them): one ``gpu_uuid`` (and
    ``pci_bus_id``) per GPU with its host, index, model and minor number; a GPU's job (hpc_job
    label, Slurm or the source's job) with the time it was seen; pods and containers with the
    GPUs they used. Called once at the end of every GPU parser; ``workload=False`` for sources
    that never name a job, pod or container (nvidia-smi CSV), which leaves out those parts of
    the query (planning them costs more than loading a small file)."""
    eid = int(ctx.evidence_id)
    rows_sql = rows_sql or f"""
        SELECT min(ts) AS ts, max(ts) AS ts_last, host, gpu_uuid, pci_bus_id, gpu_index, index_kind, gpu_model, pod,
               namespace, container, job, labels, min(locator) AS locator
        FROM gpu_samples WHERE evidence_id = {eid} GROUP BY ALL
        UNION ALL
        SELECT min(ts), max(ts), host, gpu_uuid, pci_bus_id, gpu_index, index_kind, NULL, pod, namespace,
               container, job, labels, min(locator)
        FROM gpu_processes WHERE evidence_id = {eid} GROUP BY ALL"""
    workload_ctes = """, jobs AS (
        SELECT host, gpu_uuid, job, min(ts) AS valid_from, max(ts_last) AS valid_to, min(locator) AS locator
        FROM rows WHERE gpu_uuid IS NOT NULL AND job IS NOT NULL GROUP BY ALL
    ), pods AS (
        SELECT host, gpu_uuid, namespace, pod, container, min(ts) AS valid_from, max(ts_last) AS valid_to,
               min(locator) AS locator
        FROM rows WHERE pod IS NOT NULL GROUP BY ALL
    )""" if workload else ""
    workload_rows = """
    UNION ALL
    SELECT 'gpu_uuid', gpu_uuid, host, job, valid_from, valid_to,
           json_object('basis', 'job named by the telemetry')::VARCHAR, locator
    FROM jobs
    UNION ALL
    SELECT 'pod', coalesce(namespace || '/', '') || pod, host, NULL, valid_from, valid_to,
           json_object('gpu_uuid', gpu_uuid, 'namespace', namespace, 'pod', pod, 'container', container)::VARCHAR,
           locator
    FROM pods
    UNION ALL
    SELECT 'container', coalesce(namespace || '/', '') || pod || '/' || container, host, NULL, valid_from,
           valid_to, json_object('gpu_uuid', gpu_uuid, 'namespace', namespace, 'pod', pod)::VARCHAR, locator
    FROM pods WHERE container IS NOT NULL""" if workload else ""
    sql = f"""
    WITH rows AS (  -- one row per distinct identity first: millions of samples name few GPUs
        {rows_sql}
    ), gpus AS (
        SELECT host, gpu_uuid, max(pci_bus_id) AS pci_bus_id,
               CASE WHEN count(DISTINCT gpu_index) = 1 THEN max(gpu_index) END AS gpu_index,
               max(index_kind) FILTER (WHERE gpu_index IS NOT NULL) AS index_kind,
               max(gpu_model) AS gpu_model,
               max(coalesce(TRY_CAST(json_extract_string(labels, '$.minor_number') AS INTEGER),
                            TRY_CAST(regexp_extract(json_extract_string(labels, '$.device'), '^nvidia(\\d+)$', 1) AS INTEGER),
                            TRY_CAST(json_extract_string(labels, '$.DCGM_FI_DEV_MINOR_NUMBER') AS INTEGER))) AS minor_number,
               min(locator) AS locator
        FROM rows WHERE gpu_uuid IS NOT NULL GROUP BY host, gpu_uuid
    ){workload_ctes}
    SELECT 'gpu_uuid' AS kind, gpu_uuid AS value, host, NULL AS job, NULL::TIMESTAMPTZ AS valid_from,
           NULL::TIMESTAMPTZ AS valid_to,
           json_object('pci_bus_id', pci_bus_id, 'index', gpu_index, 'index_kind', index_kind,
                       'model', gpu_model, 'minor_number', minor_number)::VARCHAR AS attributes, locator
    FROM gpus
    UNION ALL
    SELECT 'pci_bus_id', pci_bus_id, host, NULL, NULL, NULL,
           json_object('uuid', gpu_uuid, 'index', gpu_index, 'index_kind', index_kind, 'model', gpu_model)::VARCHAR,
           locator
    FROM gpus WHERE pci_bus_id IS NOT NULL{workload_rows}
    """
    return ctx.insert("entities", f"SELECT *, {sql_string(ctx.parser_name)} AS source FROM ({sql})",
                      columns=("kind", "value", "host", "job", "valid_from", "valid_to", "attributes", "locator",
                               "source"))
