-- title: Agent step -> processes on GPUs
-- description: GPU process records (nvidia-smi, NVML, pmon, DCGM, accounting) of a launch the step
--   caused: the same host and pid, the latest launch of that pid at or before the record being
--   one of the step's (so a later reuse of the pid is not taken). Without launch records, a GPU
--   process whose name is a program the step names (xmrig), on the step's host, first seen
--   within link_window_s after the step. The GPU indexes the command selects (--cuda-devices,
--   CUDA_VISIBLE_DEVICES) are compared with the GPUs used. Clock-corrected. One link per step and
--   evidence file, every GPU and record in it.
-- param link_window_s: 120  -- how long after a step ends its effects may start, in seconds
-- param clock_tolerance_s: 2  -- how early an effect may look, in seconds
WITH g AS (
    SELECT gp.*, gp.ts_corrected AS ts_c, row_number() OVER () AS gpu_row,
           regexp_extract(coalesce(gp.process_name, ''), '[^/\\]+$') AS base
    FROM gpu_processes_corrected gp WHERE gp.pid IS NOT NULL AND gp.ts IS NOT NULL
), launches AS (
    SELECT p.proc_id, p.host, p.pid, p.ts_corrected AS ts_c FROM (
        SELECT *, process_key(exec_id, evidence_id, locator) AS proc_id FROM processes_corrected
        WHERE pid IS NOT NULL AND ts IS NOT NULL) p
), by_pid AS (
    SELECT g.gpu_row, l.proc_id FROM g
    ASOF JOIN launches l ON g.host = l.host AND g.pid = l.pid AND g.ts_c + to_seconds($clock_tolerance_s) >= l.ts_c
), pid_hits AS (
    SELECT g.*, lp.step_evidence_id AS s_eid, lp.step_locator AS s_loc, 'pid' AS via
    FROM g JOIN by_pid b USING (gpu_row)
    JOIN link_step_processes lp ON lp.proc_id = b.proc_id
), name_spans AS (
    SELECT host, gpu_uuid, pid, base, min(ts_c) AS first_c FROM g WHERE base <> '' GROUP BY ALL
), name_hits AS (
    SELECT g.*, s.evidence_id AS s_eid, s.locator AS s_loc, 'name' AS via
    FROM name_spans n
    JOIN link_step_targets t ON t.target_kind = 'binary' AND lower(t.value) = lower(n.base)
    JOIN link_steps s ON s.evidence_id = t.evidence_id AND s.locator = t.locator AND s.host = n.host
    JOIN g ON g.host = n.host AND g.gpu_uuid IS NOT DISTINCT FROM n.gpu_uuid AND g.pid = n.pid
    WHERE n.first_c BETWEEN s.ts - to_seconds($clock_tolerance_s) AND s.ts_end + to_seconds($link_window_s)
      AND NOT EXISTS (SELECT 1 FROM pid_hits ph WHERE ph.gpu_row = g.gpu_row)
), hits AS (
    SELECT * FROM pid_hits UNION ALL BY NAME SELECT * FROM name_hits
), devices AS (
    SELECT host, gpu_uuid, min(gpu_index) AS gpu_index FROM gpu_devices
    WHERE index_kind = 'nvml' AND gpu_uuid IS NOT NULL GROUP BY ALL
), per_gpu AS (
    SELECT h.s_eid, h.s_loc, h.evidence_id, h.host, h.gpu_uuid,
           coalesce(max(h.gpu_index), any_value(d.gpu_index)) AS gpu_index, min(h.ts_c) AS first_c,
           max(h.ts_c) AS last_c, count(*) AS n, max(h.used_mib) AS max_used_mib,
           list(DISTINCT h.pid ORDER BY h.pid) AS pids, any_value(h.process_name) AS process_name,
           bool_or(h.via = 'pid') AS by_pid
    FROM hits h LEFT JOIN devices d ON d.gpu_uuid = h.gpu_uuid AND (d.host IS NULL OR d.host = h.host)
    GROUP BY h.s_eid, h.s_loc, h.evidence_id, h.host, h.gpu_uuid
), grouped AS (
    SELECT p.s_eid, p.s_loc, p.evidence_id, any_value(p.host) AS host, sum(p.n) AS n, min(p.first_c) AS first_c,
           max(p.last_c) AS last_c, bool_and(p.by_pid) AS by_pid,
           list({'gpu_uuid': p.gpu_uuid, 'gpu_index': p.gpu_index, 'first_seen': p.first_c, 'last_seen': p.last_c,
                 'records': p.n, 'max_used_mib': p.max_used_mib, 'pids': p.pids} ORDER BY p.gpu_index, p.gpu_uuid) AS gpus,
           list(p.gpu_index ORDER BY p.gpu_index) FILTER (WHERE p.gpu_index IS NOT NULL) AS indexes,
           flatten(list(p.pids)) AS all_pids, any_value(p.process_name) AS process_name
    FROM per_gpu p GROUP BY p.s_eid, p.s_loc, p.evidence_id
), refs AS (
    SELECT s_eid, s_loc, evidence_id, arg_min(ts, ts_c) AS first_ts, arg_min(locator, ts_c) AS first_locator,
           arg_min(clock_offset_s, ts_c) AS first_offset,
           list({'tbl': 'gpu_processes', 'evidence_id': evidence_id, 'locator': locator, 'ts': ts_c}
                ORDER BY ts_c, locator) AS member_refs
    FROM hits GROUP BY s_eid, s_loc, evidence_id
), named_devices AS (
    SELECT s.evidence_id, s.locator,
           list_transform(string_split(coalesce(
               nullif(regexp_extract(s.command, '--(?:cuda|opencl)-devices[= ]([0-9][0-9,]*)', 1), ''),
               nullif(regexp_extract(s.command, 'CUDA_VISIBLE_DEVICES=([0-9][0-9,]*)', 1), '')), ','),
               lambda x: TRY_CAST(x AS INTEGER)) AS devices
    FROM link_steps s
)
SELECT g.s_eid AS cause_evidence_id, g.s_loc AS cause_locator, 'gpu_process' AS effect_kind,
       'gpu_processes' AS effect_tbl, g.evidence_id AS effect_evidence_id, r.first_locator AS effect_locator,
       NULL AS finding_id, r.first_ts AS effect_ts, g.first_c AS effect_ts_corrected, g.last_c AS effect_ts_end,
       g.host AS effect_host, g.n AS effect_count,
       format('{} (pid {}) on {} GPU(s) of {}: {}', regexp_extract(coalesce(g.process_name, '?'), '[^/]*$'),
              array_to_string(list_distinct(g.all_pids), ', '), len(g.gpus), g.host,
              array_to_string(list_transform(g.gpus, lambda x: coalesce('GPU ' || x.gpu_index || ' ', '') || x.gpu_uuid), ', '))
           AS effect_summary,
       round(epoch(g.first_c) - epoch(s.ts), 3) AS delta_s, $clock_tolerance_s::DOUBLE AS tolerance_s,
       'indicator' AS basis,
       CASE WHEN g.by_pid THEN format('pid {} is a launch of the step', array_to_string(list_distinct(g.all_pids), ', '))
            ELSE format('process name {} is a program named in the command', regexp_extract(coalesce(g.process_name, ''), '[^/]*$'))
       END
       || CASE WHEN nd.devices IS NOT NULL AND len(nd.devices) > 0
               THEN CASE WHEN list_sort(list_distinct(nd.devices)) = list_sort(list_distinct(g.indexes))
                         THEN format('; GPUs {} are the devices the command selects', array_to_string(list_sort(list_distinct(g.indexes)), ','))
                         ELSE format('; the command selects GPUs {}, the process was seen on {}',
                                     array_to_string(nd.devices, ','), array_to_string(g.indexes, ',')) END
               ELSE '' END AS basis_indicator,
       format('on {}, the host of sandbox {}', g.host, coalesce(s.sandbox, '?')) AS basis_place,
       format('first seen {:.3f} s after the step{}', epoch(g.first_c) - epoch(s.ts),
              CASE WHEN coalesce(r.first_offset, 0) <> 0
                   THEN format(' (stamp corrected by {:+.3f} s for the clock of {})', -r.first_offset, g.host)
                   ELSE '' END) AS basis_time,
       false AS weak, CASE WHEN g.by_pid THEN 0.95 ELSE 0.8 END AS confidence,
       to_json({'gpus': g.gpus, 'selected_devices': nd.devices, 'process_name': g.process_name}) AS details,
       r.member_refs
FROM grouped g
JOIN refs r USING (s_eid, s_loc, evidence_id)
JOIN link_steps s ON s.evidence_id = g.s_eid AND s.locator = g.s_loc
LEFT JOIN named_devices nd ON nd.evidence_id = g.s_eid AND nd.locator = g.s_loc
