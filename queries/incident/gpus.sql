-- title: Incident answer: GPUs diverted, GPU-hours and estimated cost
-- description: Per GPU an incident's processes ran on (link/60_step_gpu_processes): host, UUID,
--   index, PCI bus id, the job that owned the GPU, the process and pid, first and last sighting
--   (clock-corrected), and the GPU time taken: the gpu_diversion finding's figure when there is
--   one (by the process's own utilisation share where the evidence has it, else the whole GPU),
--   else the span of the sightings; GPU-hours and cost at gpu_hour_price.
-- param gpu_hour_price: 2.5  -- price of one GPU-hour (on-demand H100 list prices run about 2-4 USD)
-- param currency: USD  -- currency of gpu_hour_price
-- answer: gpus
-- shape: many
WITH rows AS (
    SELECT l.incident_id, l.trajectory_id, l.step, l.run_id, gp.host, gp.gpu_uuid, gp.gpu_index, gp.pid,
           gp.process_name, gp.used_mib, lr.ts_corrected, gp.evidence_id, gp.locator
    FROM links l JOIN link_rows lr USING (link_id)
    JOIN gpu_processes_resolved gp ON lr.tbl = 'gpu_processes' AND gp.evidence_id = lr.evidence_id AND gp.locator = lr.locator
    WHERE l.incident_id IS NOT NULL AND l.effect_kind = 'gpu_process'
), per_gpu AS (
    SELECT incident_id, host, gpu_uuid, pid, any_value(trajectory_id) AS trajectory_id, any_value(step) AS step,
           any_value(run_id) AS run_id, max(gpu_index) AS gpu_index, arg_max(process_name, length(process_name)) AS process_name,
           min(ts_corrected) AS first_seen, max(ts_corrected) AS last_seen, count(*) AS records, max(used_mib) AS max_used_mib,
           arg_min({'tbl': 'gpu_processes', 'evidence_id': evidence_id, 'locator': locator}, ts_corrected) AS evidence
    FROM rows GROUP BY incident_id, host, gpu_uuid, pid
), diversion AS (
    SELECT l.incident_id, f.host, json_extract_string(f.details, '$.gpu_uuid') AS gpu_uuid,
           TRY_CAST(json_extract(f.details, '$.pid') AS BIGINT) AS pid, f.finding_id,
           TRY_CAST(json_extract(f.details, '$.gpu_seconds') AS DOUBLE) AS gpu_seconds,
           json_extract_string(f.details, '$.basis') AS basis, json_extract_string(f.details, '$.job') AS job
    FROM links l JOIN findings f ON f.finding_id = l.finding_id
    WHERE l.incident_id IS NOT NULL AND l.effect_kind = 'finding' AND f.detector = 'detect/gpu_diversion'
    QUALIFY row_number() OVER (PARTITION BY l.incident_id, f.finding_id ORDER BY l.link_id) = 1
), devices AS (
    SELECT host, gpu_uuid, min(pci_bus_id) AS pci_bus_id, min(gpu_index) FILTER (WHERE index_kind = 'nvml') AS gpu_index,
           min(gpu_model) AS gpu_model
    FROM gpu_devices WHERE gpu_uuid IS NOT NULL GROUP BY ALL
), owners AS (
    SELECT gpu_uuid, host, string_agg(DISTINCT job, ', ' ORDER BY job) AS job FROM gpu_job_owner GROUP BY ALL
)
SELECT p.incident_id,
       {'host': p.host, 'gpu_uuid': p.gpu_uuid, 'gpu_index': coalesce(p.gpu_index, d.gpu_index),
        'pci_bus_id': d.pci_bus_id, 'model': d.gpu_model, 'job': coalesce(dv.job, o.job),
        'pid': p.pid, 'process': p.process_name, 'trajectory_id': p.trajectory_id, 'step': p.step, 'run_id': p.run_id,
        'first_seen': p.first_seen, 'last_seen': p.last_seen, 'records': p.records, 'max_used_mib': p.max_used_mib,
        'gpu_seconds': round(coalesce(dv.gpu_seconds, epoch(p.last_seen) - epoch(p.first_seen)), 1),
        'gpu_hours': round(coalesce(dv.gpu_seconds, epoch(p.last_seen) - epoch(p.first_seen)) / 3600, 4),
        'cost': round(coalesce(dv.gpu_seconds, epoch(p.last_seen) - epoch(p.first_seen)) / 3600 * $gpu_hour_price, 2),
        'gpu_hour_price': $gpu_hour_price, 'currency': $currency,
        'basis': coalesce('detect/gpu_diversion: ' || dv.basis, 'span of the process sightings'),
        'diversion_finding': dv.finding_id, 'evidence': p.evidence} AS answer
FROM per_gpu p
LEFT JOIN diversion dv ON dv.incident_id = p.incident_id AND dv.gpu_uuid = p.gpu_uuid AND dv.pid = p.pid
    AND (dv.host IS NULL OR dv.host = p.host)
LEFT JOIN devices d ON d.gpu_uuid = p.gpu_uuid AND (d.host IS NULL OR d.host = p.host)
LEFT JOIN owners o ON o.gpu_uuid = p.gpu_uuid AND (o.host IS NULL OR o.host = p.host)
ORDER BY p.incident_id, p.host, coalesce(p.gpu_index, d.gpu_index), p.gpu_uuid, p.pid
