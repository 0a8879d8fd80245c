-- title: GPU processes on the timeline
-- description: When each process was first and last seen on each GPU (any source: compute-apps,
--   pmon, XML, NVML snapshots, exporter per-process metrics), with its memory and the GPU's job.
WITH obs AS (
    SELECT host, coalesce(gpu_uuid, pci_bus_id, 'index ' || gpu_index) AS gpu_key, gpu_index, pid, process_name,
           used_mib, ts, evidence_id, locator
    FROM gpu_processes_resolved WHERE pid IS NOT NULL AND ts IS NOT NULL
), spans AS (
    SELECT host, gpu_key, pid, arg_max(process_name, length(process_name)) AS process_name, max(gpu_index) AS gpu_index,
           max(used_mib) AS used_mib, count(*) AS n,
           arg_min(ts, ts) AS first_ts, arg_min(evidence_id, ts) AS first_evidence, arg_min(locator, ts) AS first_locator,
           arg_max(ts, ts) AS last_ts, arg_max(evidence_id, ts) AS last_evidence, arg_max(locator, ts) AS last_locator
    FROM obs GROUP BY host, gpu_key, pid
)
SELECT first_ts AS ts, host, 'gpu' AS source, 'gpu_process_start' AS kind,
       coalesce(process_name, '?') || ' (pid ' || pid || ') first seen on GPU ' || coalesce(gpu_index::VARCHAR || ' ', '')
       || '(' || gpu_key || ')' || coalesce(', ' || round(used_mib)::BIGINT || ' MiB', '') AS summary,
       'info' AS severity, first_evidence AS evidence_id, first_locator AS locator
FROM spans
UNION ALL
SELECT last_ts, host, 'gpu', 'gpu_process_last_seen',
       coalesce(process_name, '?') || ' (pid ' || pid || ') last seen on GPU ' || coalesce(gpu_index::VARCHAR || ' ', '')
       || '(' || gpu_key || ') after ' || n || ' observations',
       'info', last_evidence, last_locator
FROM spans WHERE n > 1
