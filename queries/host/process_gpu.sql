-- title: Process -> GPU: the GPUs each launch held
-- description: GPU process records (nvidia-smi, NVML, pmon, DCGM, accounting) joined to the launch
--   of the same pid on the same host that was running at the record's time (the latest launch of
--   that pid at or before it, so an exec'd image such as nohup -> xmrig takes the GPU time), or
--   through the container's pid namespace when the record saw a container pid. One row per launch
--   and GPU: first and last record, memory and SM use, and whether the GPU's process name agrees
--   with the launch's executable.
-- param skew_s: 10  -- GPU records up to this many seconds before the launch still count (clocks differ)
WITH launches AS MATERIALIZED (
    SELECT proc_id, host, pid, ns_pid, left(container_id_norm(container_id), 12) AS cid12, ts, exe, argv,
           comm, sandbox, evidence_id, locator
    FROM process_tree WHERE pid IS NOT NULL
), g AS (
    SELECT *, row_number() OVER () AS gpu_row, ts + to_seconds($skew_s) AS ts_probe,
           left(container_id_norm(container), 12) AS cid12
    FROM gpu_processes WHERE pid IS NOT NULL AND ts IS NOT NULL
), by_host_pid AS (
    SELECT g.gpu_row, l.proc_id FROM g ASOF JOIN launches l ON g.host = l.host AND g.pid = l.pid AND g.ts_probe >= l.ts
), by_ns_pid AS (
    SELECT g.gpu_row, l.proc_id FROM g ASOF JOIN launches l
        ON g.host = l.host AND g.cid12 = l.cid12 AND g.pid = l.ns_pid AND g.ts_probe >= l.ts
), joined AS (
    SELECT g.*, coalesce(h.proc_id, n.proc_id) AS proc_id,
           CASE WHEN h.proc_id IS NOT NULL THEN 'host pid' ELSE 'container pid' END AS basis
    FROM g LEFT JOIN by_host_pid h USING (gpu_row) LEFT JOIN by_ns_pid n USING (gpu_row)
    WHERE coalesce(h.proc_id, n.proc_id) IS NOT NULL
), per_gpu AS (
    SELECT proc_id, gpu_uuid, gpu_index, any_value(basis) AS basis,
           min(ts) AS first_seen, max(ts) AS last_seen, count(*) AS n_records,
           max(used_mib) AS max_used_mib, round(avg(sm_util), 1) AS avg_sm_util,
           list(DISTINCT process_name) FILTER (WHERE process_name IS NOT NULL) AS gpu_process_names,
           list(DISTINCT record_kind) FILTER (WHERE record_kind IS NOT NULL) AS record_kinds,
           arg_min(evidence_id, ts) AS gpu_evidence_id, arg_min(locator, ts) AS gpu_locator
    FROM joined GROUP BY proc_id, gpu_uuid, gpu_index
)
SELECT l.host, l.pid, l.exe, l.argv, l.ts AS proc_ts, l.sandbox, p.gpu_uuid, p.gpu_index, p.basis,
       p.first_seen, p.last_seen, p.n_records, p.max_used_mib, p.avg_sm_util, p.gpu_process_names,
       p.record_kinds,
       len(p.gpu_process_names) = 0 OR list_has_any(
           list_transform(p.gpu_process_names, lambda n: regexp_extract(n, '[^/]*$')),
           [regexp_extract(l.exe, '[^/]*$'), l.comm, regexp_extract(l.argv[1], '[^/]*$')]) AS name_matches,
       l.proc_id, l.evidence_id AS proc_evidence_id, l.locator AS proc_locator, p.gpu_evidence_id, p.gpu_locator
FROM per_gpu p JOIN launches l USING (proc_id)
ORDER BY l.host, p.first_seen, p.gpu_index
