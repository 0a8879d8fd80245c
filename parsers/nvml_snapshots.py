"""JSON lines written by ``forensics collect gpu`` (our NVML collector): GPU samples, running
processes with their memory, command lines and pod/container identity, per-process utilisation,
accounting records and XID events. Times are UTC; the collector's header records the host and
its time zone.
"""

from __future__ import annotations

from forensics.context import ParseContext, sql_string
from forensics.gpu.collector import TOOL
from forensics.gpu.textlines import lines_relation_sql
from forensics.gpu.writer import derive_entities
from forensics.registry import Parser, Sniff, register

MIB = 1048576.0


def sniff(s: Sniff) -> float:
    first = s.first_nonblank_lines[0] if s.first_nonblank_lines else ""
    if first.startswith("{") and f'"tool": "{TOOL}"' in first and '"record": "collector"' in first:
        return 1.0
    return 0.0


def parse(ctx: ParseContext) -> None:
    con = ctx.con
    table = f"_nvml_{ctx.evidence_id}"
    hint = sql_string(ctx.hints.host) if ctx.hints.host else "NULL"
    con.execute(f"""
        CREATE TEMP TABLE {table} AS
        SELECT n, line, json_valid(line) AS ok,
               CASE WHEN json_valid(line) THEN line::JSON END AS j
        FROM ({lines_relation_sql(ctx)}) WHERE line IS NOT NULL AND trim(line) <> ''
    """)
    try:
        ctx.warn_many(f"SELECT 'line:' || n AS locator, 'not a JSON object (cut-off line?)' AS reason, line AS excerpt "
                      f"FROM {table} WHERE NOT ok")
        common = f"""
            (j->>'ts')::TIMESTAMPTZ AS ts, j->>'ts' AS ts_raw, false AS ts_inferred,
            coalesce(j->>'host', {hint}) AS host, gpu_uuid_norm(j->>'uuid') AS gpu_uuid,
            gpu_bus_id(j->>'pci_bus_id') AS pci_bus_id, TRY_CAST(j->>'index' AS INTEGER) AS gpu_index,
            'nvml' AS index_kind, {sql_string(ctx.parser_name)} AS source_format, 'line:' || n AS locator"""
        ctx.insert("gpu_samples", f"""
            SELECT {common},
                   TRY_CAST(j->>'util_gpu' AS DOUBLE) AS util, TRY_CAST(j->>'util_memory' AS DOUBLE) AS mem_util,
                   TRY_CAST(j->>'memory_used_bytes' AS DOUBLE) / {MIB} AS fb_used_mib,
                   TRY_CAST(j->>'power_mw' AS DOUBLE) / 1000 AS power_w,
                   TRY_CAST(j->>'temp_c' AS DOUBLE) AS temp_c,
                   TRY_CAST(j->>'sm_clock_mhz' AS DOUBLE) AS sm_clock_mhz,
                   json_object('memory_free_bytes', TRY_CAST(j->>'memory_free_bytes' AS BIGINT),
                               'memory_total_bytes', TRY_CAST(j->>'memory_total_bytes' AS BIGINT),
                               'power_limit_mw', TRY_CAST(j->>'power_limit_mw' AS BIGINT),
                               'energy_mj', TRY_CAST(j->>'energy_mj' AS BIGINT),
                               'mem_clock_mhz', TRY_CAST(j->>'mem_clock_mhz' AS BIGINT)) AS extra
            FROM {table} WHERE ok AND j->>'record' = 'sample'
        """)
        process_common = f"""{common}, TRY_CAST(j->>'pid' AS BIGINT) AS pid,
                   coalesce(j->>'name', j->>'exe') AS process_name, j->>'cmdline' AS cmdline,
                   CASE WHEN j->>'pod_uid' IS NOT NULL OR j->>'container_id' IS NOT NULL OR j->>'exe' IS NOT NULL
                        THEN json_object('pod_uid', j->>'pod_uid', 'container_id', j->>'container_id',
                                         'exe', j->>'exe') END AS labels"""
        ctx.insert("gpu_processes", f"""
            SELECT {process_common}, 'C' AS process_type, 'running' AS record_kind,
                   TRY_CAST(j->>'used_memory_bytes' AS DOUBLE) / {MIB} AS used_mib
            FROM {table} WHERE ok AND j->>'record' = 'process'
            UNION ALL BY NAME
            SELECT {process_common}, 'utilization' AS record_kind,
                   TRY_CAST(j->>'sm_util' AS DOUBLE) AS sm_util, TRY_CAST(j->>'mem_util' AS DOUBLE) AS mem_util,
                   TRY_CAST(j->>'enc_util' AS DOUBLE) AS enc_util, TRY_CAST(j->>'dec_util' AS DOUBLE) AS dec_util
            FROM {table} WHERE ok AND j->>'record' = 'process_util'
            UNION ALL BY NAME
            SELECT {process_common}, 'accounting' AS record_kind,
                   TRY_CAST(j->>'gpu_util' AS DOUBLE) AS sm_util, TRY_CAST(j->>'mem_util' AS DOUBLE) AS mem_util,
                   TRY_CAST(j->>'max_memory_bytes' AS DOUBLE) / {MIB} AS used_mib,
                   TRY_CAST(j->>'time_ms' AS BIGINT) AS duration_ms,
                   TRY_CAST(j->>'start_time' AS TIMESTAMPTZ) AS start_time,
                   TRY_CAST(j->>'is_running' AS BOOLEAN) AS is_running
            FROM {table} WHERE ok AND j->>'record' = 'accounting'
        """)
        ctx.insert("gpu_events", f"""
            SELECT {common}, 'xid' AS event, TRY_CAST(j->>'xid' AS INTEGER) AS xid,
                   'NVML XID critical error event' AS detail
            FROM {table} WHERE ok AND j->>'record' = 'xid'
            UNION ALL BY NAME
            SELECT {common}, CASE j->>'record' WHEN 'collector' THEN 'collector_start' ELSE 'collector_stop' END AS event,
                   concat_ws(' ', j->>'tool', j->>'version', 'driver ' || (j->>'driver_version'),
                             'timezone ' || (j->>'timezone'), 'rounds ' || (j->>'rounds')) AS detail
            FROM {table} WHERE ok AND j->>'record' IN ('collector', 'collector_stop')
        """)
        ctx.insert("entities", f"""
            SELECT 'gpu_uuid' AS kind, gpu_uuid_norm(j->>'uuid') AS value, coalesce(j->>'host', {hint}) AS host,
                   json_object('pci_bus_id', gpu_bus_id(j->>'pci_bus_id'), 'index', TRY_CAST(j->>'index' AS INTEGER),
                               'index_kind', 'nvml', 'model', j->>'name',
                               'minor_number', TRY_CAST(j->>'minor_number' AS INTEGER))::VARCHAR AS attributes,
                   {sql_string(ctx.parser_name)} AS source, min('line:' || n) AS locator
            FROM {table} WHERE ok AND j->>'record' = 'device' AND j->>'uuid' IS NOT NULL
            GROUP BY ALL
        """)
        ctx.warn_many(f"""
            SELECT 'line:' || n AS locator, 'unknown collector record ' || coalesce(j->>'record', '(none)') AS reason,
                   line AS excerpt
            FROM {table} WHERE ok AND coalesce(j->>'record', '') NOT IN
                ('collector', 'collector_stop', 'device', 'sample', 'process', 'process_util', 'accounting', 'xid')
        """)
    finally:
        con.execute(f"DROP TABLE IF EXISTS {table}")
    derive_entities(ctx)


register(Parser(
    name="nvml_snapshots",
    description="JSON lines from 'forensics collect gpu' (NVML samples, processes, accounting, XID events)",
    tables=("gpu_samples", "gpu_processes", "gpu_events", "entities"),
    sniff=sniff,
    parse=parse,
    phase=40,
    extensions=(".jsonl",),
))
