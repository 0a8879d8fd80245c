-- title: Agent step -> Falco alerts on what it ran
-- description: Falco alerts in the step's sandbox (the alert's container id matches the sandbox's
--   container, or its pod or container name is the sandbox) that concern what the step ran: the
--   alert's pid is a launch of the step on that host (any time while it runs), its connection
--   goes to an address the step names, or its command line is part of the step's text (within
--   link_window_s after the step). Clock-corrected. One link per alert.
-- param link_window_s: 120  -- how long after a step ends its effects may start, in seconds
-- param clock_tolerance_s: 2  -- how early an effect may look, in seconds
WITH a AS (
    SELECT * FROM falco_alerts_corrected WHERE ts IS NOT NULL
), s AS (
    SELECT * FROM link_steps WHERE container_id IS NOT NULL OR sandbox IS NOT NULL
), placed AS (
    SELECT a.*, s.evidence_id AS s_eid, s.locator AS s_loc, s.ts AS s_ts, s.ts_end AS s_end, s.sandbox AS s_sandbox,
           s.command AS s_command, s.host AS s_host
    FROM a JOIN s ON (container_id_match(a.container_id, s.container_id)
                      OR (s.sandbox IS NOT NULL AND (a.pod = s.sandbox OR a.container_name = s.sandbox)))
    WHERE a.ts_corrected >= s.ts - to_seconds($clock_tolerance_s)
), judged AS (
    SELECT p.*,
           EXISTS (SELECT 1 FROM link_step_processes l WHERE l.step_evidence_id = p.s_eid AND l.step_locator = p.s_loc
                   AND l.host = p.host AND l.pid = p.pid) AS by_pid,
           EXISTS (SELECT 1 FROM link_step_targets t WHERE t.evidence_id = p.s_eid AND t.locator = p.s_loc
                   AND t.target_kind = 'address' AND ipv4_to_int(p.remote_ip) BETWEEN t.ip_lo AND t.ip_hi) AS by_address,
           p.cmdline IS NOT NULL AND length(p.cmdline) >= 4
               AND contains(shell_words(p.s_command), shell_words(p.cmdline)) AS by_cmdline
    FROM placed p
), kept AS (
    SELECT * FROM judged
    WHERE by_pid OR by_address OR (by_cmdline AND ts_corrected <= s_end + to_seconds($link_window_s))
    QUALIFY row_number() OVER (PARTITION BY evidence_id, locator ORDER BY by_pid DESC, by_address DESC,
                               abs(epoch(ts_corrected) - epoch(s_ts))) = 1
)
SELECT s_eid AS cause_evidence_id, s_loc AS cause_locator, 'falco_alert' AS effect_kind, 'falco_alerts' AS effect_tbl,
       evidence_id AS effect_evidence_id, locator AS effect_locator, NULL AS finding_id, ts AS effect_ts,
       ts_corrected AS effect_ts_corrected, ts_corrected AS effect_ts_end, host AS effect_host, 1 AS effect_count,
       format('Falco {} ({}) pid {}: {}', rule, priority, pid, left(coalesce(cmdline, proc_name, ''), 160)) AS effect_summary,
       round(epoch(ts_corrected) - epoch(s_ts), 3) AS delta_s, $clock_tolerance_s::DOUBLE AS tolerance_s,
       'indicator' AS basis,
       concat_ws('; ', CASE WHEN by_pid THEN format('pid {} is a launch of the step', pid) END,
                 CASE WHEN by_address THEN format('connection to {}:{}, an address the step names', remote_ip, remote_port) END,
                 CASE WHEN by_cmdline THEN 'its command line is part of the step''s command' END) AS basis_indicator,
       format('container {} of sandbox {}', coalesce(container_id, container_name, pod), s_sandbox) AS basis_place,
       format('alert {:.3f} s after the step{}', epoch(ts_corrected) - epoch(s_ts),
              CASE WHEN coalesce(clock_offset_s, 0) <> 0
                   THEN format(' (stamp corrected by {:+.3f} s for the clock of {})', -clock_offset_s, host)
                   ELSE '' END) AS basis_time,
       false AS weak, CASE WHEN by_pid OR by_address THEN 0.95 ELSE 0.85 END AS confidence,
       to_json({'rule': rule, 'priority': priority, 'pid': pid, 'container_id': container_id}) AS details,
       [{'tbl': 'falco_alerts', 'evidence_id': evidence_id, 'locator': locator, 'ts': ts_corrected}] AS member_refs
FROM kept
