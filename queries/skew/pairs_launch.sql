-- title: Approximate clock pairs: an agent step and the launch it caused on the host
-- description: For hosts without exact pairs (skew/pairs): each step (trainer clock) and the first
--   launch its own text caused on the host (shell -c or argv match, best step for the launch,
--   host/step_processes), within max_skew_s either way. The host stamp includes the launch latency
--   (a fraction of a second), so these pairs only give an estimate where nothing better exists;
--   skew/estimate removes the median latency seen on hosts that have both kinds of pair.
-- param max_skew_s: 300  -- largest clock offset looked for, in seconds
WITH c AS (
    SELECT * FROM step_process_candidates(window_s := 120, skew_s := $max_skew_s)
    WHERE best_for_process AND basis IN ('shell -c', 'argv') AND host IS NOT NULL
), first_launch AS (
    SELECT c.* FROM c
    SEMI JOIN host_clock_evidence h ON h.evidence_id = c.proc_evidence_id
    ANTI JOIN host_clock_evidence hs ON hs.evidence_id = c.step_evidence_id
    QUALIFY row_number() OVER (PARTITION BY c.step_evidence_id, c.step_locator ORDER BY c.proc_ts, c.proc_locator) = 1
)
SELECT host, 'agent step vs the launch it caused (includes launch latency)' AS method, 'trainer' AS reference,
       proc_ts AS host_ts, step_ts AS ref_ts, 0.0 AS host_resolution_s, 0.0 AS ref_resolution_s,
       round(epoch(proc_ts) - epoch(step_ts), 6) AS offset_s, false AS exact,
       'processes' AS host_tbl, proc_evidence_id AS host_evidence_id, proc_locator AS host_locator,
       'agent_steps' AS ref_tbl, step_evidence_id AS ref_evidence_id, step_locator AS ref_locator
FROM first_launch
ORDER BY host, host_ts, host_locator
