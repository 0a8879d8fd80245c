-- title: GPU diversion: GPU time and cost per diverting process and GPU
-- description: For every foreign process (see gpu_foreign_process) on every GPU, the interval and
--   the GPU-seconds it took: by its own share where per-process utilisation exists (pmon, NVML
--   samples, accounting), otherwise by the whole GPU for the time it was seen there; basis says
--   which. GPUs with a mining signature but no process data count as whole GPUs for the
--   signature's interval. GPU-hours and the estimated cost at gpu_hour_price are in the summary
--   and details, with the process's total over all its GPUs.
-- param gpu_hour_price: 2.5  -- price of one GPU-hour (on-demand H100 list prices run about 2-4 USD)
-- param currency: USD  -- currency of gpu_hour_price, for the text
-- param max_sample_gap_s: 120  -- an observation counts for at most this long (gaps in the evidence are not billed)
-- param min_peer_share: 0.5  -- as in gpu_foreign_process
-- param min_job_gpus: 4  -- as in gpu_foreign_process
-- param window_s: 600  -- as in gpu_mining_signature
-- param min_samples: 3  -- as in gpu_mining_signature
-- param busy_util: 90  -- as in gpu_mining_signature
-- param max_power_cv: 0.03  -- as in gpu_mining_signature
-- param dip_util: 50  -- as in gpu_mining_signature
-- param peer_dip_share: 0.5  -- as in gpu_mining_signature
-- param max_tensor: 0.05  -- as in gpu_mining_signature
-- param tensor_ratio: 0.6  -- as in gpu_mining_signature
-- param max_gap_s: 1200  -- as in gpu_mining_signature
-- param min_duration_s: 900  -- as in gpu_mining_signature
-- attack: T1496
WITH usage AS (
    SELECT u.*, u.gpu_seconds / 3600.0 AS gpu_hours, u.gpu_seconds / 3600.0 * $gpu_hour_price AS cost,
           sum(u.gpu_seconds) OVER (PARTITION BY u.host, u.pid, u.process) / 3600.0 AS process_gpu_hours,
           count(*) OVER (PARTITION BY u.host, u.pid, u.process) AS process_gpus
    FROM gpu_diversion_usage($min_peer_share, $min_job_gpus, $max_sample_gap_s, $window_s, $min_samples, $busy_util,
                             $max_power_cv, $dip_util, $peer_dip_share, $max_tensor, $tensor_ratio, $max_gap_s,
                             $min_duration_s) u
)
SELECT
    'gpu_diversion' AS kind,
    'high' AS severity,
    CASE basis WHEN 'process_share' THEN 0.9 WHEN 'process_share_accounting' THEN 0.85 WHEN 'whole_gpu' THEN 0.8
               ELSE 0.6 END AS confidence,
    ts_start, ts_end, host,
    coalesce(process || ' (pid ' || pid || ')', 'An unidentified workload') || ' used GPU '
        || coalesce(gpu_index::VARCHAR, '?') || ' (' || gpu_uuid || ')' || coalesce(' of ' || host, '')
        || coalesce(', a GPU of ' || job, '') || ', from ' || strftime(ts_start, '%Y-%m-%d %H:%M:%S') || ' to '
        || strftime(ts_end, '%H:%M:%S') || ' UTC: ' || printf('%.2f', gpu_hours) || ' GPU-hours ('
        || round(gpu_seconds)::BIGINT || ' GPU-seconds, '
        || CASE basis WHEN 'process_share' THEN 'by its own share: ' || round(avg_sm_util) || ' % SM on average'
                      WHEN 'process_share_accounting' THEN 'by its own share: accounting, ' || lifetime_util || ' % over its life'
                      WHEN 'whole_gpu' THEN 'whole GPU: no per-process utilisation'
                      ELSE 'whole GPU: mining signature, no process data' END
        || '), about ' || printf('%.2f', cost) || ' ' || $currency || ' at ' || $gpu_hour_price || ' ' || $currency
        || '/GPU-hour' || CASE WHEN process_gpus > 1 THEN '; the process on its ' || process_gpus || ' GPUs: '
                               || printf('%.2f', process_gpu_hours) || ' GPU-hours, about '
                               || printf('%.2f', process_gpu_hours * $gpu_hour_price) || ' ' || $currency ELSE '' END
        AS summary,
    refs[1:10] || CASE WHEN len(refs) > 10 THEN [refs[-1]] ELSE [] END AS evidence_refs,
    json_object('gpu_uuid', gpu_uuid, 'gpu_index', gpu_index, 'pid', pid, 'process', process,
                'process_name', process_name, 'job', job, 'pod', pod, 'reasons', reasons, 'basis', basis,
                'gpu_seconds', gpu_seconds, 'gpu_hours', gpu_hours, 'cost', cost, 'currency', $currency,
                'gpu_hour_price', $gpu_hour_price, 'whole_gpu_seconds', whole_gpu_seconds,
                'share_seconds', share_seconds, 'accounting_seconds', accounting_seconds,
                'avg_sm_util', avg_sm_util, 'process_gpus', process_gpus, 'process_gpu_hours', process_gpu_hours,
                'process_cost', process_gpu_hours * $gpu_hour_price) AS details
FROM usage
