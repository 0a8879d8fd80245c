-- title: Foreign process on a job's GPU
-- description: A process on a GPU that does not belong there: a known miner (xmrig, t-rex,
--   lolMiner, nbminer, ethminer, gminer, teamredminer, ... by base name whatever its path, or a
--   stratum URL in its command line), a process whose own job or pod differs from the job that
--   owns the GPU (inventory, hpc_job/pod labels, Slurm, pod-resources), or a name that runs on
--   fewer than min_peer_share of the owning job's GPUs that have process data. Renamed miners
--   that blend in are the mining signature's to catch. A miner started inside the job inherits
--   its labels and cgroup, so the GPU's owner alone never clears a process.
-- param min_peer_share: 0.5  -- a name on fewer than this share of the job's GPUs (with process data) is not the job's
-- param min_job_gpus: 4  -- judge names against the job only when this many of its GPUs have process data
-- attack: T1496
SELECT
    'gpu_foreign_process' AS kind,
    CASE WHEN miner_name OR miner_cmdline THEN 'critical' WHEN job_mismatch THEN 'high' ELSE 'medium' END AS severity,
    CASE WHEN miner_name OR miner_cmdline THEN 0.95 WHEN job_mismatch THEN 0.85 ELSE 0.6 END AS confidence,
    first_seen AS ts_start,
    last_seen AS ts_end,
    host,
    coalesce(nullif(base, ''), 'pid') || ' (pid ' || pid || ') on GPU ' || coalesce(gpu_index::VARCHAR, '?')
        || ' (' || coalesce(gpu_uuid, gpu_key) || ')' || coalesce(' of ' || host, '')
        || coalesce(', a GPU of ' || owner_job, coalesce(', a GPU of pod ' || owner_pod, ''))
        || ': ' || array_to_string(reasons, '; ')
        || coalesce('; ' || round(max_used_mib)::BIGINT || ' MiB', '')
        || '; seen ' || strftime(first_seen, '%Y-%m-%d %H:%M:%S') || ' to ' || strftime(last_seen, '%H:%M:%S')
        || ' UTC in ' || observations || ' observations' AS summary,
    refs[1:20] || CASE WHEN len(refs) > 20 THEN [refs[-1]] ELSE [] END AS evidence_refs,
    json_object(
        'gpu_uuid', gpu_uuid, 'pci_bus_id', pci_bus_id, 'gpu_index', gpu_index, 'pid', pid,
        'process_name', process_name, 'job', owner_job, 'pod', owner_pod,
        'process_job', process_job, 'process_pod', process_pod, 'cmdline', cmdline,
        'reasons', reasons, 'max_used_mib', max_used_mib, 'observations', observations,
        'job_gpus_with_process_data', job_gpus_with_process_data,
        'job_gpus_with_this_name', job_gpus_with_this_name, 'sources', sources
    ) AS details
FROM gpu_foreign_processes($min_peer_share, $min_job_gpus)
