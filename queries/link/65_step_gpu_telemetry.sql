-- title: Agent step -> telemetry of the GPUs its process took
-- description: For every GPU a step's process was seen on (link/60_step_gpu_processes), the GPU's
--   telemetry samples (DCGM, dcgm-exporter, Prometheus, nvidia-smi) from the first sighting of the
--   process to its last plus telemetry_gap_s, matched by GPU UUID (PCI bus id or host index
--   resolved). The change is shown against the baseline_s before the process appeared:
--   utilisation, power, tensor activity and memory. One link per step and telemetry file.
-- param clock_tolerance_s: 2  -- how early an effect may look, in seconds
-- param telemetry_gap_s: 60  -- how long after the last process record its GPU's samples still count
-- param baseline_s: 600  -- how much telemetry before the process is the baseline
WITH spans AS (
    SELECT l.cause_evidence_id AS s_eid, l.cause_locator AS s_loc, gp.host, gp.gpu_uuid,
           min(lr.ts_corrected) AS first_c, max(lr.ts_corrected) AS last_c
    FROM links l JOIN link_rows lr ON lr.link_id = l.link_id AND lr.tbl = 'gpu_processes'
    JOIN gpu_processes_resolved gp ON gp.evidence_id = lr.evidence_id AND gp.locator = lr.locator
    WHERE l.effect_kind = 'gpu_process' AND gp.gpu_uuid IS NOT NULL
    GROUP BY ALL
), x AS (
    SELECT * FROM gpu_samples_corrected WHERE gpu_uuid IS NOT NULL AND ts IS NOT NULL
), during AS (
    SELECT sp.s_eid, sp.s_loc, sp.first_c AS proc_first_c, x.*
    FROM spans sp JOIN x ON x.gpu_uuid = sp.gpu_uuid AND (x.host IS NULL OR x.host = sp.host)
    WHERE x.ts_corrected BETWEEN sp.first_c - to_seconds($clock_tolerance_s)
                             AND sp.last_c + to_seconds($telemetry_gap_s)
), baseline AS (
    SELECT sp.s_eid, sp.s_loc, x.evidence_id, sp.gpu_uuid, avg(x.util) AS util, avg(x.power_w) AS power_w,
           avg(x.tensor_active) AS tensor, avg(x.fb_used_mib) AS fb_mib
    FROM spans sp JOIN x ON x.gpu_uuid = sp.gpu_uuid AND (x.host IS NULL OR x.host = sp.host)
    WHERE x.ts_corrected BETWEEN sp.first_c - to_seconds($baseline_s) AND sp.first_c - to_seconds($clock_tolerance_s)
    GROUP BY ALL
), per_gpu AS (
    SELECT d.s_eid, d.s_loc, d.evidence_id, d.gpu_uuid, any_value(d.host) AS host, min(d.ts_corrected) AS first_c,
           max(d.ts_corrected) AS last_c, count(*) AS n, avg(d.util) AS util, min(d.util) AS min_util,
           avg(d.power_w) AS power_w, avg(d.tensor_active) AS tensor, avg(d.fb_used_mib) AS fb_mib,
           any_value(d.gpu_index) AS gpu_index
    FROM during d GROUP BY d.s_eid, d.s_loc, d.evidence_id, d.gpu_uuid
), described AS (
    SELECT p.*, b.util AS base_util, b.power_w AS base_power_w, b.tensor AS base_tensor, b.fb_mib AS base_fb_mib,
           format('{}: utilisation {} -> {:.0f} %, power {} -> {:.0f} W, tensor activity {} -> {}, memory {}',
                  p.gpu_uuid, coalesce(format('{:.0f}', b.util), '?'), coalesce(p.util, 0),
                  coalesce(format('{:.0f}', b.power_w), '?'), coalesce(p.power_w, 0),
                  coalesce(format('{:.2f}', b.tensor), '?'), coalesce(format('{:.2f}', p.tensor), '?'),
                  CASE WHEN b.fb_mib IS NOT NULL AND p.fb_mib IS NOT NULL
                       THEN format('{:+.0f} MiB', p.fb_mib - b.fb_mib) ELSE '?' END) AS text
    FROM per_gpu p LEFT JOIN baseline b USING (s_eid, s_loc, evidence_id, gpu_uuid)
), grouped AS (
    SELECT s_eid, s_loc, evidence_id, any_value(host) AS host, min(first_c) AS first_c, max(last_c) AS last_c,
           sum(n) AS n, list(text ORDER BY gpu_uuid) AS texts,
           list({'gpu_uuid': gpu_uuid, 'gpu_index': gpu_index, 'first_sample': first_c, 'last_sample': last_c,
                 'samples': n, 'util': round(util, 1), 'min_util': min_util, 'power_w': round(power_w, 1),
                 'tensor_active': round(tensor, 3), 'fb_used_mib': round(fb_mib, 0), 'baseline_util': round(base_util, 1),
                 'baseline_power_w': round(base_power_w, 1), 'baseline_tensor_active': round(base_tensor, 3),
                 'baseline_fb_used_mib': round(base_fb_mib, 0)} ORDER BY gpu_uuid) AS gpus
    FROM described GROUP BY s_eid, s_loc, evidence_id
), refs AS (
    SELECT s_eid, s_loc, evidence_id, arg_min(ts, ts_corrected) AS first_ts, arg_min(locator, ts_corrected) AS first_locator,
           list({'tbl': 'gpu_samples', 'evidence_id': evidence_id, 'locator': locator, 'ts': ts_corrected}
                ORDER BY ts_corrected, locator) AS member_refs
    FROM during GROUP BY s_eid, s_loc, evidence_id
)
SELECT g.s_eid AS cause_evidence_id, g.s_loc AS cause_locator, 'gpu_telemetry' AS effect_kind,
       'gpu_samples' AS effect_tbl, g.evidence_id AS effect_evidence_id, r.first_locator AS effect_locator,
       NULL AS finding_id, r.first_ts AS effect_ts, g.first_c AS effect_ts_corrected, g.last_c AS effect_ts_end,
       g.host AS effect_host, g.n AS effect_count,
       format('{} samples on {}: {}', g.n, g.host, array_to_string(g.texts, '; ')) AS effect_summary,
       round(epoch(g.first_c) - epoch(s.ts), 3) AS delta_s, $clock_tolerance_s::DOUBLE AS tolerance_s,
       'indicator' AS basis,
       'the GPUs (by UUID) the step''s process was seen on' AS basis_indicator,
       format('on {}, the host of sandbox {}', g.host, coalesce(s.sandbox, '?')) AS basis_place,
       format('first sample {:.3f} s after the step, from when the process appeared', epoch(g.first_c) - epoch(s.ts))
           AS basis_time,
       false AS weak, 0.9 AS confidence,
       to_json({'gpus': g.gpus}) AS details, r.member_refs
FROM grouped g
JOIN refs r USING (s_eid, s_loc, evidence_id)
JOIN link_steps s ON s.evidence_id = g.s_eid AND s.locator = g.s_loc
