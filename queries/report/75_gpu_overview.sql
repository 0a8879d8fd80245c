-- title: GPU telemetry overview
-- description: Per host and GPU: samples, time covered, and mean and peak utilisation (percent of
--   time a kernel ran).
-- empty: omit
SELECT host, gpu_index, gpu_uuid, count(*) AS samples, min(ts) AS first_sample, max(ts) AS last_sample,
       round(avg(util), 1) AS mean_util, max(util) AS peak_util
FROM gpu_samples
GROUP BY host, gpu_index, gpu_uuid
ORDER BY host NULLS LAST, gpu_index NULLS LAST, gpu_uuid
