"""Prometheus-shaped GPU telemetry: dcgm-exporter and nvidia_gpu_exporter scrapes, range-query
exports and ``promtool tsdb dump`` lines all become the same two staging tables, then one shared
step turns them into ``gpu_samples`` and ``gpu_processes``:

- ``series``: one row per time series: sid, metric name, label names (lower-cased) and values,
  the labels as JSON (names as written);
- ``points``: one row per sample: sid, ts, the stamp as written, the value as written, a group
  key (the sample time, or the scrape number when lines carry no time), a sort order and a
  locator.

Label names are matched case-insensitively (``Hostname``/``hostname``, ``UUID``/``uuid``,
``modelName``/``modelname``); workload labels prefer ``exported_pod`` (Prometheus renames the
workload's labels when ``honor_labels`` is off, and ``pod`` then names the exporter). The
Prometheus ``job`` label is the scrape job, not a workload: the workload's job is ``hpc_job``.
Every metric without a column of its own is kept in ``extra``; NaN, Inf and DCGM blank sentinels
are no value and counted in a warning. A series' labels are the same on all its samples: they are
written on the first sample of each GPU's series in the file (``labels``), the workload labels on
every row (pod, namespace, container, job), so a 24-hour export does not repeat them millions of times.
"""

from __future__ import annotations

import json
import mmap
import os
import re
import uuid as uuid_module

import pyarrow as pa

from forensics.context import ParseContext, sql_string

from .fields import NUMERIC_SAMPLE_COLUMNS, PROCESS_METRICS, metric_map

# Labels that name a GPU, a host or a workload rather than a metric's own dimension.
CONTEXT_LABELS = {
    "__name__", "uuid", "gpu", "pci_bus_id", "device", "modelname", "hostname", "instance", "job", "namespace",
    "pod", "container", "exported_pod", "exported_namespace", "exported_container", "exported_job",
    "exported_instance", "pod_name", "pod_namespace", "container_name", "gpu_i_profile", "gpu_i_id", "hpc_job",
    "pod_uid", "vgpu", "node", "kubernetes_node", "nodename", "index", "name", "pid", "process_name", "serial",
    "driver_version", "vbios_version", "cuda_version", "compute_cap", "pci_sub_device_id", "driver_model_current",
    "driver_model_pending", "err_code", "err_msg",
}


def _lbl(key: str) -> str:
    return f"s.vals[list_position(s.keys, {sql_string(key)})]"


def _inventory_host(expr: str) -> str:
    return (f"(SELECT min(e.host) FROM entities e WHERE e.kind IN ('host', 'hostname') "
            f"AND lower(e.value) = lower({expr}))")


class PromStage:
    """Temporary staging tables for one evidence file."""

    def __init__(self, ctx: ParseContext) -> None:
        self.ctx = ctx
        tag = uuid_module.uuid4().hex[:10]
        self.series = f"_prom_series_{tag}"
        self.points = f"_prom_points_{tag}"
        self.classified = f"_prom_class_{tag}"
        # How a point's order number reads as a locator (line numbers unless the stage says).
        self.locator_sql = lambda ord_sql: f"'line:' || {ord_sql}"
        self.series_filter = "true"  # which series rows to classify (all unless a stage says)

    def drop(self) -> None:
        """Remove the staging tables (quietly: after a failed statement the transaction is aborted
        and the original error is the one to report)."""
        for name in (self.points, self.classified, self.series + "_first", self.series):
            kinds = self.ctx.con.execute(
                "SELECT 'VIEW' FROM duckdb_views() WHERE view_name = ? UNION ALL "
                "SELECT 'TABLE' FROM duckdb_tables() WHERE table_name = ?", [name, name]).fetchall() \
                if self._usable() else []
            for (kind,) in kinds:
                try:
                    self.ctx.con.execute(f"DROP {kind} IF EXISTS {name}")
                except Exception:
                    return

    def _usable(self) -> bool:
        try:
            self.ctx.con.execute("SELECT 1").fetchall()
            return True
        except Exception:
            return False
        try:
            self.ctx.con.unregister(f"{self.classified}_map")
        except Exception:
            pass

    # ------------------------------------------------------------------ loading
    def load(self) -> dict[str, int]:
        """Turn the staged series and points into gpu_samples and gpu_processes rows."""
        ctx, con = self.ctx, self.ctx.con
        mapping = pa.table({
            "mname": [m[0] for m in metric_map()] + [name.upper() for name in PROCESS_METRICS],
            "mcolumn": [m[1] for m in metric_map()] + [col for col, _ in PROCESS_METRICS.values()],
            "mscale": [m[2] for m in metric_map()] + [scale for _, scale in PROCESS_METRICS.values()],
        })
        con.register(f"{self.classified}_map", mapping)
        hint = sql_string(ctx.hints.host) if ctx.hints.host else "NULL"
        node = f"coalesce({_lbl('node')}, {_lbl('kubernetes_node')}, {_lbl('nodename')})"
        instance = f"regexp_replace({_lbl('instance')}, ':[0-9]+$', '')"
        exporter = (f"regexp_matches(coalesce({_lbl('container')}, '') || ' ' || coalesce({_lbl('pod')}, ''), "
                    f"'(^|[^a-z0-9])(nvidia-)?dcgm-exporter')")
        specific = ("list_filter(list_transform(range(1, len(s.keys) + 1), lambda i: CASE WHEN NOT list_contains("
                    f"{_sql_list(sorted(CONTEXT_LABELS))}, s.keys[i]) AND NOT starts_with(s.keys[i], 'dcgm_fi_') "
                    "THEN s.keys[i] || '=\"' || s.vals[i] || '\"' END), lambda x: x IS NOT NULL)")
        con.execute(f"""
            CREATE TEMP TABLE {self.classified} AS
            WITH c AS (
                SELECT s.sid, s.name, s.labels,
                       {node} AS node,
                       CASE WHEN NOT regexp_matches(coalesce({_lbl('hostname')}, ''), '(^|[^a-z0-9])(nvidia-)?dcgm-exporter')
                            THEN {_lbl('hostname')} END AS hostname,
                       {instance} AS instance_host,
                       gpu_uuid_norm({_lbl('uuid')}) AS gpu_uuid,
                       gpu_bus_id({_lbl('pci_bus_id')}) AS pci_bus_id,
                       TRY_CAST(coalesce({_lbl('gpu')}, {_lbl('index')}) AS INTEGER) AS gpu_index,
                       CASE WHEN {_lbl('gpu')} IS NOT NULL THEN 'dcgm'
                            WHEN {_lbl('index')} IS NOT NULL THEN 'nvml' END AS index_kind,
                       coalesce({_lbl('modelname')}, CASE WHEN s.name = 'nvidia_smi_gpu_info' THEN {_lbl('name')} END)
                           AS gpu_model,
                       CASE WHEN {_lbl('gpu_i_id')} IS NOT NULL
                            THEN coalesce({_lbl('gpu_i_profile')} || ' ', '') || 'GPU-I ' || {_lbl('gpu_i_id')} END
                           AS mig_instance,
                       {exporter} AS labels_name_exporter,
                       {_lbl('exported_pod')} AS exported_pod, {_lbl('pod')} AS pod_label,
                       {_lbl('pod_name')} AS pod_name,
                       coalesce({_lbl('exported_namespace')}, {_lbl('namespace')}, {_lbl('pod_namespace')}) AS ns_label,
                       coalesce({_lbl('exported_container')}, {_lbl('container')}, {_lbl('container_name')}) AS ctr_label,
                       {_lbl('hpc_job')} AS job,
                       TRY_CAST({_lbl('pid')} AS BIGINT) AS pid, {_lbl('process_name')} AS process_name,
                       m.mcolumn, m.mscale,
                       s.name || CASE WHEN len({specific}) > 0
                                      THEN '{{' || array_to_string({specific}, ',') || '}}' ELSE '' END AS extra_key,
                       (upper(s.name) LIKE 'DCGM%') AS dcgm_metric
                FROM {self.series} s LEFT JOIN {self.classified}_map m ON m.mname = upper(s.name)
                WHERE {self.series_filter}
            )
            SELECT c.*,
                   coalesce({_inventory_host('c.node')}, {_inventory_host('c.hostname')},
                            (SELECT min(a.host) FROM host_addresses a WHERE a.ip = c.instance_host),
                            {hint}, c.node, c.hostname, c.instance_host) AS host,
                   CASE WHEN c.exported_pod IS NOT NULL THEN c.exported_pod
                        WHEN NOT c.labels_name_exporter THEN coalesce(c.pod_label, c.pod_name) END AS pod,
                   CASE WHEN c.exported_pod IS NOT NULL OR NOT c.labels_name_exporter THEN c.ns_label END AS namespace,
                   CASE WHEN c.exported_pod IS NOT NULL OR NOT c.labels_name_exporter THEN c.ctr_label END AS container,
                   coalesce(c.gpu_uuid, c.pci_bus_id, 'index:' || c.gpu_index, '') || coalesce('|' || c.mig_instance, '')
                       AS gpu_key
            FROM c
        """)
        # Per series: which GPU (an integer key) and what it carries; the points are then grouped
        # on (sample time, GPU key) with numeric aggregates only, and the GPU's identity, labels
        # and locator are joined back onto the (much smaller) result.
        con.execute(f"""
            ALTER TABLE {self.classified} ADD COLUMN kid INTEGER;
            UPDATE {self.classified} c SET kid = k.kid
            FROM (SELECT host, gpu_key, pid, process_name,
                         (row_number() OVER (ORDER BY min(sid)))::INTEGER AS kid
                  FROM {self.classified} GROUP BY ALL) k
            WHERE c.host IS NOT DISTINCT FROM k.host AND c.gpu_key = k.gpu_key
              AND c.pid IS NOT DISTINCT FROM k.pid AND c.process_name IS NOT DISTINCT FROM k.process_name
        """)
        good = ("CASE WHEN isnan(p.value) OR isinf(p.value) OR (s.dcgm_metric AND p.value >= 140737488355328.0) "
                "THEN NULL ELSE p.value END")
        columns = ",\n".join(f"max({good} * s.mscale) FILTER (WHERE s.mcolumn = '{c}') AS {c}"
                             for c in NUMERIC_SAMPLE_COLUMNS)
        source_format = sql_string(ctx.parser_name)
        has_extra = con.execute(
            f"SELECT count(*) FROM {self.classified} WHERE mcolumn IS NULL").fetchall()[0][0] > 0
        extra = (f"CASE WHEN count(*) FILTER (WHERE s.mcolumn IS NULL) > 0 THEN "
                 f"('{{' || string_agg(to_json(s.extra_key) || ':' || CASE WHEN p.value IS NULL THEN to_json(p.value_raw) ELSE to_json({good}) END, ',' "
                 f"ORDER BY s.extra_key) FILTER (WHERE s.mcolumn IS NULL) || '}}')::JSON END" if has_extra else "NULL::JSON")
        keys = f"""
            SELECT kid, any_value(host) AS host, max(gpu_uuid) AS gpu_uuid, max(pci_bus_id) AS pci_bus_id,
                   max(gpu_index) AS gpu_index, max(index_kind) AS index_kind, max(gpu_model) AS gpu_model,
                   max(mig_instance) AS mig_instance, any_value(pid) AS pid, any_value(process_name) AS process_name,
                   max(pod) AS pod, max(namespace) AS namespace, max(container) AS container, max(job) AS job,
                   arg_max(labels, len(labels)) AS labels
            FROM {self.classified} GROUP BY kid"""
        first = f"""
            SELECT s.kid, min(p.ord) AS first_ord FROM {self.points} p JOIN {self.classified} s USING (sid)
            GROUP BY s.kid"""
        aggregate = f"""
            SELECT p.grp, s.kid, any_value(p.ts) AS ts, any_value(p.ts_raw) AS ts_raw,
                   bool_or(p.ts_inferred) AS ts_inferred, min(p.ord) AS ord,
                   {{columns}}, {{extra}} AS extra
            FROM {self.points} p JOIN {self.classified} s USING (sid)
            WHERE s.pid IS {{null}} NULL
            GROUP BY p.grp, s.kid"""
        one_series_per_gpu = con.execute(
            f"SELECT coalesce(max(n), 0) <= 1 FROM (SELECT count(*) AS n FROM {self.classified} GROUP BY kid)"
        ).fetchall()[0][0]
        if one_series_per_gpu:
            # Each GPU has a single series here (a range export of one metric): every point is a
            # row of its own, no grouping needed.
            columns_direct = ", ".join(f"CASE WHEN s.mcolumn = '{c}' THEN {good} * s.mscale END AS {c}"
                                       for c in NUMERIC_SAMPLE_COLUMNS)
            extra_direct = (f"CASE WHEN s.mcolumn IS NULL THEN ('{{' || to_json(s.extra_key) || ':' || "
                            f"CASE WHEN p.value IS NULL THEN to_json(p.value_raw) ELSE to_json({good}) END || '}}')::JSON END")
            aggregate = f"""
                SELECT p.grp, s.kid, p.ts, p.ts_raw, p.ts_inferred, p.ord,
                       {{columns}}, {{extra}} AS extra
                FROM {self.points} p JOIN {self.classified} s USING (sid)
                WHERE s.pid IS {{null}} NULL"""
            columns = columns_direct
            extra = extra_direct if has_extra else "NULL::JSON"
        locator = self.locator_sql("a.ord")
        samples = ctx.insert("gpu_samples", f"""
            WITH a AS ({aggregate.format(columns=columns, extra=extra, null='')}),
                 k AS ({keys}), f AS ({first})
            SELECT a.ts, a.ts_raw, a.ts_inferred, k.host, k.gpu_uuid, k.pci_bus_id, k.gpu_index, k.index_kind,
                   k.gpu_model, k.mig_instance, {', '.join('a.' + c for c in NUMERIC_SAMPLE_COLUMNS)},
                   k.pod, k.namespace, k.container, k.job,
                   CASE WHEN a.ord = f.first_ord THEN k.labels END AS labels, a.extra,
                   {source_format} AS source_format, {locator} AS locator
            FROM a JOIN k USING (kid) JOIN f USING (kid)
        """)
        process_columns = (f"CASE WHEN s.mcolumn = 'used_mib' THEN {good} * s.mscale END AS used_mib"
                           if one_series_per_gpu else
                           f"max({good} * s.mscale) FILTER (WHERE s.mcolumn = 'used_mib') AS used_mib")
        processes = ctx.insert("gpu_processes", f"""
            WITH a AS ({aggregate.format(columns=process_columns, extra=extra, null='NOT')}),
                 k AS ({keys}), f AS ({first})
            SELECT a.ts, a.ts_raw, a.ts_inferred, k.host, k.gpu_uuid, k.pci_bus_id, k.gpu_index, k.index_kind,
                   k.mig_instance, k.pid, k.process_name, 'running' AS record_kind, a.used_mib,
                   k.pod, k.namespace, k.container, k.job,
                   CASE WHEN a.ord = f.first_ord THEN k.labels END AS labels, a.extra,
                   {source_format} AS source_format, {locator} AS locator
            FROM a JOIN k USING (kid) JOIN f USING (kid)
        """) if con.execute(f"SELECT count(*) FROM {self.classified} WHERE pid IS NOT NULL").fetchall()[0][0] else 0
        ctx.warn_many(f"""
            WITH bad AS (
                SELECT p.ord, p.value_raw, s.name,
                       CASE WHEN p.value IS NULL THEN 'not numbers'
                            WHEN isnan(p.value) OR isinf(p.value) THEN 'NaN or Inf'
                            ELSE 'DCGM blank sentinels' END AS what
                FROM {self.points} p JOIN {self.classified} s USING (sid)
                WHERE p.value IS NULL OR isnan(p.value) OR isinf(p.value)
                   OR (s.dcgm_metric AND p.value >= 140737488355328.0)
            ), g AS (
                SELECT min(ord) AS ord, count(*) AS n, name, what, min(value_raw) AS excerpt FROM bad GROUP BY name, what
            )
            SELECT {self.locator_sql("g.ord")} AS locator,
                   n || ' values of ' || name || ' are ' || what || ' (kept as no value)' AS reason, excerpt
            FROM g
        """)
        return {"gpu_samples": samples, "gpu_processes": processes}

    def identity_rows_sql(self) -> str:
        """The identities the loaded rows carry, one row per GPU series with its time span, for
        :func:`derive_entities` (cheaper than grouping millions of loaded rows again)."""
        return f"""
            SELECT sp.first_ts AS ts, sp.last_ts AS ts_last, c.host, c.gpu_uuid, c.pci_bus_id, c.gpu_index,
                   c.index_kind, c.gpu_model, c.pod, c.namespace, c.container, c.job, c.labels,
                   {self.locator_sql('sp.first_ord')} AS locator
            FROM {self.classified} c
            JOIN (SELECT sid, min(ts) AS first_ts, max(ts) AS last_ts, min(ord) AS first_ord
                  FROM {self.points} GROUP BY sid) sp USING (sid)"""


def _sql_list(values: list[str]) -> str:
    return "[" + ", ".join(sql_string(v) for v in values) + "]"


# --------------------------------------------------------------------------- exposition text

SAMPLE_RE = (r"^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{.*\})?\s+([^\s{}]+)(?:\s+(-?[0-9]+(?:\.[0-9]+)?))?\s*$")
LABEL_RE = r'([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"'
# A scrape boundary: a comment (other than HELP/TYPE/UNIT/EOF) or a bare line holding a time.
STAMP_RE = r"(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?|\b\d{10}(?:\d{3})?(?:\.\d+)?\b)"


def stage_exposition(ctx: ParseContext, stage: PromStage, lines_sql: str) -> None:
    """Exposition text: one scrape, a file of scrapes separated by time-stamp lines, or lines that
    carry their own millisecond time stamps (all Prometheus allows)."""
    con = ctx.con
    zone = sql_string(ctx.hints.timezone or "UTC")
    scrape_time = ctx.options.get("scrape_time")
    default_ts = f"TRY_CAST({sql_string(scrape_time)} AS TIMESTAMPTZ)" if scrape_time else "NULL::TIMESTAMPTZ"
    con.execute(f"""
        CREATE TEMP TABLE {stage.points}_lines AS
        WITH l AS ({lines_sql}),
        k AS (
            SELECT n, line,
                   regexp_full_match(line, {sql_string(SAMPLE_RE)}) AND NOT starts_with(ltrim(line), '#') AS is_sample,
                   (starts_with(ltrim(line), '#') AND NOT regexp_matches(line, '^\\s*#\\s*(HELP|TYPE|UNIT|EOF)\\b')
                        AND regexp_matches(line, {sql_string(STAMP_RE)}))
                   OR regexp_full_match(trim(line), {sql_string(STAMP_RE)}) AS is_marker
            FROM l WHERE line IS NOT NULL AND trim(line) <> ''
        )
        SELECT *, sum(CASE WHEN is_marker THEN 1 ELSE 0 END) OVER (ORDER BY n) AS scrape FROM k
    """)
    lines = f"{stage.points}_lines"
    con.execute(f"""
        CREATE TEMP TABLE {stage.points}_markers AS
        SELECT scrape, regexp_extract(line, {sql_string(STAMP_RE)}, 1) AS raw
        FROM {lines} WHERE is_marker
    """)
    marker_ts = f"""CASE
        WHEN regexp_full_match(m.raw, '\\d{{13}}') THEN make_timestamptz(m.raw::BIGINT * 1000)
        WHEN regexp_full_match(m.raw, '\\d{{10}}(\\.\\d+)?') THEN to_timestamp(m.raw::DOUBLE)
        WHEN regexp_matches(m.raw, '(Z|[+-]\\d{{2}}:?\\d{{2}})$') THEN TRY_CAST(m.raw AS TIMESTAMPTZ)
        ELSE timezone({zone}, TRY_CAST(m.raw AS TIMESTAMP)) END"""
    con.execute(f"""
        CREATE TEMP TABLE {stage.points}_parsed AS
        SELECT x.n, x.scrape, x.m.name AS name, x.m.labels AS labelstr, x.m.value AS value_raw, x.m.ts AS ts_ms
        FROM (SELECT n, scrape, regexp_extract(line, {sql_string(SAMPLE_RE)}, ['name', 'labels', 'value', 'ts']) AS m
              FROM {lines} WHERE is_sample) x
    """)
    con.execute(f"""
        CREATE TEMP TABLE {stage.series} AS
        SELECT row_number() OVER (ORDER BY min(n)) AS sid, name, labelstr,
               list_transform(regexp_extract_all(labelstr, {sql_string(LABEL_RE)}, 1), lambda k: lower(k)) AS keys,
               list_transform(regexp_extract_all(labelstr, {sql_string(LABEL_RE)}, 2),
                              lambda v: replace(replace(replace(v, '\\"', '"'), '\\n', chr(10)), '\\\\', '\\')) AS vals,
               NULL::VARCHAR AS labels
        FROM {stage.points}_parsed GROUP BY name, labelstr
    """)
    con.execute(f"""
        UPDATE {stage.series} SET labels = CASE WHEN len(keys) = 0 THEN NULL ELSE
            '{{' || array_to_string(list_transform(range(1, len(keys) + 1), lambda i:
                to_json(regexp_extract_all(labelstr, {sql_string(LABEL_RE)}, 1)[i]) || ':' || to_json(vals[i])), ',')
            || '}}' END
    """)
    con.execute(f"""
        CREATE TEMP TABLE {stage.points} AS
        SELECT s.sid,
               coalesce(CASE WHEN p.ts_ms IS NOT NULL AND p.ts_ms <> ''
                             THEN make_timestamptz(round(p.ts_ms::DOUBLE * 1000)::BIGINT) END,
                        {marker_ts}, {default_ts}) AS ts,
               coalesce(nullif(p.ts_ms, ''), m.raw, {sql_string(scrape_time or '') if scrape_time else 'NULL'}) AS ts_raw,
               (p.ts_ms IS NULL OR p.ts_ms = '') AND m.raw IS NULL AS ts_inferred,
               p.value_raw, TRY_CAST(p.value_raw AS DOUBLE) AS value,
               CASE WHEN p.ts_ms IS NOT NULL AND p.ts_ms <> '' THEN round(p.ts_ms::DOUBLE)::BIGINT
                    ELSE -1 - p.scrape END AS grp,
               p.n AS ord
        FROM {stage.points}_parsed p
        JOIN {stage.series} s ON s.name = p.name AND s.labelstr IS NOT DISTINCT FROM p.labelstr
        LEFT JOIN {stage.points}_markers m ON m.scrape = p.scrape
    """)
    ctx.warn_many(f"""
        SELECT 'line:' || n AS locator, 'not an exposition sample, comment or time-stamp line' AS reason,
               line AS excerpt
        FROM {lines} WHERE NOT is_sample AND NOT is_marker AND NOT starts_with(ltrim(line), '#')
    """)
    no_time = con.execute(f"SELECT count(*) FROM {stage.points} WHERE ts IS NULL").fetchall()[0][0]
    if no_time:
        ctx.warn(None, f"{no_time} samples have no time (a single scrape without stamps): give "
                 "--option scrape_time=ISO-TIME to place them")
    for suffix in ("_lines", "_markers", "_parsed"):
        con.execute(f"DROP TABLE IF EXISTS {stage.points}{suffix}")


# --------------------------------------------------------------------------- range-query JSON

SERIES_START = re.compile(rb'\{\s*"metric"\s*:')


def split_matrix(path: str, out: str) -> tuple[int, bytes, int]:
    """Rewrite a ``/api/v1/query_range`` (or ``/api/v1/query``) response as one JSON line per
    series with its position added (``{"sid": i, "metric": ..., "values": ...}``), without loading
    the document: series start at ``{"metric":``, which in valid JSON can only open an object.
    Returns the number of series, the bytes before the first one (the envelope) and the longest
    line written."""
    count = longest = 0
    with open(path, "rb") as handle, open(out, "wb") as sink:
        size = os.fstat(handle.fileno()).st_size
        if size == 0:
            return 0, b"", 0
        view = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            starts = [m.start() for m in SERIES_START.finditer(view)]
            envelope = bytes(view[: starts[0]]) if starts else bytes(view[:4096])
            for i, start in enumerate(starts):
                if i + 1 < len(starts):
                    chunk = view[start: starts[i + 1]].rstrip()
                    if chunk.endswith(b","):
                        chunk = chunk[:-1]
                else:
                    tail = view[start:].decode("utf-8", errors="replace")
                    try:
                        _, end = json.JSONDecoder().raw_decode(tail)
                    except json.JSONDecodeError:
                        end = len(tail)  # a cut-off export: the reader reports the broken line
                    chunk = tail[:end].encode("utf-8")
                body = chunk.lstrip()[1:].replace(b"\n", b" ").replace(b"\r", b" ")
                sink.write(b'{"sid":%d,' % (i + 1))
                sink.write(body)
                sink.write(b"\n")
                count += 1
                longest = max(longest, len(body) + 32)
        finally:
            view.close()
    return count, envelope, longest


def stage_range(ctx: ParseContext, stage: PromStage) -> int:
    """A Prometheus HTTP API matrix (range query) or vector (instant query) export; the series'
    samples are ``[unix_seconds, "value"]``. Overlapping chunks repeat (series, time) pairs: each
    is loaded once."""
    con = ctx.con
    stage.locator_sql = lambda o: f"'result:' || ({o} // 1000000000 - 1) || ' point:' || ({o} % 1000000000 - 1)"
    scratch = ctx.scratch_path(".ndjson")
    try:
        count, envelope, longest = split_matrix(str(ctx.local_path), str(scratch))
        head = envelope.decode("utf-8", errors="replace")
        if '"status"' in head and '"success"' not in head:
            ctx.warn("offset:0", "the export is a Prometheus error response", head[:200])
        if not count:
            ctx.warn("offset:0", "no series in the Prometheus export", head[:200])
            return 0
        reader = (f"read_json({sql_string(str(scratch))}, format='newline_delimited', "
                  f"columns={{'sid': 'BIGINT', 'metric': 'MAP(VARCHAR, VARCHAR)', 'values': 'VARCHAR[][]', "
                  f"'value': 'VARCHAR[]'}}, maximum_object_size={max(16 << 20, 2 * longest)}, ignore_errors=false)")
        name = ctx.options.get("prom_metric")
        con.execute(f"""
            CREATE TEMP TABLE {stage.series} AS
            SELECT sid, sid AS pos,
                   coalesce(metric['__name__'], {sql_string(name) if name else 'NULL'}, '(unnamed)') AS name,
                   list_transform(map_keys(metric), lambda k: lower(k)) AS keys, map_values(metric) AS vals,
                   to_json(metric)::VARCHAR AS labels, "values" AS pts, value AS pt
            FROM {reader}
        """)
        repeated = _merge_repeated_series(con, stage)
        qualify = "QUALIFY row_number() OVER (PARTITION BY sid, v[1] ORDER BY pos, j) = 1" if repeated else ""
        con.execute(f"""
            CREATE TEMP TABLE {stage.points} AS
            WITH u AS (
                SELECT sid, pos, unnest(pts) AS v, generate_subscripts(pts, 1) AS j FROM {stage.series}
                UNION ALL
                SELECT sid, pos, pt, 1 FROM {stage.series} WHERE pt IS NOT NULL
            )
            SELECT sid, to_timestamp(TRY_CAST(v[1] AS DOUBLE)) AS ts, v[1] AS ts_raw, false AS ts_inferred,
                   v[2] AS value_raw, TRY_CAST(v[2] AS DOUBLE) AS value,
                   round(TRY_CAST(v[1] AS DOUBLE) * 1000)::BIGINT AS grp, pos * 1000000000 + j AS ord
            FROM u {qualify}
        """)
        if repeated:
            ctx.warn(None, f"{repeated} series appear more than once (overlapping chunks): "
                     "samples repeated at the same time were loaded once")
            con.execute(f"""DELETE FROM {stage.series} s WHERE rowid NOT IN
                            (SELECT min(rowid) FROM {stage.series} GROUP BY sid)""")
        for column in ("pts", "pt", "pos"):
            con.execute(f"ALTER TABLE {stage.series} DROP COLUMN {column}")
        ctx.warn_many(f"""
            SELECT {stage.locator_sql('ord')} AS locator, 'sample time is not a number' AS reason, ts_raw AS excerpt
            FROM {stage.points} WHERE ts IS NULL
        """)
        return count
    finally:
        scratch.unlink(missing_ok=True)


def _merge_repeated_series(con, stage: PromStage) -> int:
    """Series that appear more than once (chunked exports concatenated) share the first one's id,
    so their points de-duplicate on (labels, time). Returns how many repeats there were."""
    repeated = con.execute(f"SELECT count(*) - count(DISTINCT labels) FROM {stage.series}").fetchall()[0][0]
    if repeated:
        con.execute(f"""
            UPDATE {stage.series} s SET sid = f.first_sid
            FROM (SELECT labels, min(sid) AS first_sid FROM {stage.series} GROUP BY labels) f
            WHERE f.labels = s.labels AND s.sid <> f.first_sid
        """)
    return int(repeated)


def stage_vm_jsonl(ctx: ParseContext, stage: PromStage) -> None:
    """VictoriaMetrics-style JSON lines export: ``{"metric": {...}, "values": [...], "timestamps": [ms...]}``."""
    con = ctx.con
    stage.locator_sql = lambda o: f"'line:' || ({o} // 1000000000) || ' point:' || ({o} % 1000000000 - 1)"
    reader = (f"read_json({ctx.sql_path}, format='newline_delimited', columns={{'metric': 'MAP(VARCHAR, VARCHAR)', "
              f"'values': 'VARCHAR[]', 'timestamps': 'BIGINT[]'}}, maximum_object_size={64 << 20})")
    con.execute(f"""
        CREATE TEMP TABLE {stage.series} AS
        SELECT row_number() OVER () AS sid, coalesce(metric['__name__'], '(unnamed)') AS name,
               list_transform(map_keys(metric), lambda k: lower(k)) AS keys, map_values(metric) AS vals,
               to_json(metric)::VARCHAR AS labels, "values" AS pts, timestamps AS tss
        FROM {reader}
    """)
    con.execute(f"""
        CREATE TEMP TABLE {stage.points} AS
        SELECT sid, make_timestamptz(t * 1000) AS ts, t::VARCHAR AS ts_raw, false AS ts_inferred, v AS value_raw,
               TRY_CAST(v AS DOUBLE) AS value, t AS grp, sid * 1000000000 + j AS ord
        FROM (SELECT sid, unnest(pts) AS v, unnest(tss) AS t, generate_subscripts(pts, 1) AS j FROM {stage.series})
    """)
    con.execute(f"ALTER TABLE {stage.series} DROP COLUMN pts")
    con.execute(f"ALTER TABLE {stage.series} DROP COLUMN tss")


# --------------------------------------------------------------------------- promtool tsdb dump

DUMP_RE = r"^\s*(\{.*\})\s+(\S+)\s+(-?[0-9]+)\s*$"


def stage_promtool(ctx: ParseContext, stage: PromStage, lines_sql: str) -> None:
    """``promtool tsdb dump`` lines: ``{__name__="...", label="..."} value timestamp_ms``."""
    con = ctx.con
    con.execute(f"""
        CREATE TEMP TABLE {stage.points}_parsed AS
        SELECT n, line, regexp_extract(line, {sql_string(DUMP_RE)}, ['labels', 'value', 'ts']) AS m
        FROM ({lines_sql}) WHERE line IS NOT NULL AND trim(line) <> ''
    """)
    con.execute(f"""
        CREATE TEMP TABLE {stage.series} AS
        WITH s AS (
            SELECT m.labels AS labelstr, min(n) AS first_n,
                   regexp_extract_all(m.labels, {sql_string(LABEL_RE)}, 1) AS raw_keys,
                   list_transform(regexp_extract_all(m.labels, {sql_string(LABEL_RE)}, 2),
                                  lambda v: replace(replace(replace(v, '\\"', '"'), '\\n', chr(10)), '\\\\', '\\'))
                       AS vals
            FROM {stage.points}_parsed WHERE m.labels <> '' GROUP BY m.labels
        )
        SELECT row_number() OVER (ORDER BY first_n) AS sid, labelstr,
               coalesce(vals[list_position(raw_keys, '__name__')], '(unnamed)') AS name,
               list_transform(raw_keys, lambda k: lower(k)) AS keys, vals,
               '{{' || array_to_string(list_transform(range(1, len(raw_keys) + 1),
                   lambda i: to_json(raw_keys[i]) || ':' || to_json(vals[i])), ',') || '}}' AS labels
        FROM s
    """)
    con.execute(f"""
        CREATE TEMP TABLE {stage.points} AS
        SELECT s.sid, make_timestamptz(TRY_CAST(p.m.ts AS BIGINT) * 1000) AS ts, p.m.ts AS ts_raw, false AS ts_inferred,
               p.m.value AS value_raw, TRY_CAST(p.m.value AS DOUBLE) AS value, TRY_CAST(p.m.ts AS BIGINT) AS grp,
               p.n AS ord
        FROM {stage.points}_parsed p JOIN {stage.series} s ON s.labelstr = p.m.labels
        WHERE p.m.labels <> ''
    """)
    ctx.warn_many(f"""
        SELECT 'line:' || n AS locator, 'not a promtool dump line' AS reason, line AS excerpt
        FROM {stage.points}_parsed WHERE m.labels = ''
    """)
    con.execute(f"ALTER TABLE {stage.series} DROP COLUMN labelstr")
    con.execute(f"DROP TABLE IF EXISTS {stage.points}_parsed")
