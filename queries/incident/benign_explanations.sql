-- title: Findings that a benign agent step accounts for
-- description: Findings no link explains (other than those describing agent steps) whose
--   destination an agent step without any suspicious indicator names (its command holds the
--   address, or a name the evidence saw resolve to it), sent from that step's sandbox address or
--   host, starting within link_window_s after the step (clock-corrected). The agent did it and
--   nothing about it is suspicious (a git clone the task asked for): such findings are neither an
--   incident nor unattributed. Fills explained_benign.
-- param link_window_s: 120  -- how long after a step ends its effects may start, in seconds
-- param clock_tolerance_s: 2  -- how early an effect may look, in seconds
WITH f AS (
    SELECT * FROM findings_corrected
    WHERE finding_id IS NOT NULL AND dst_ip IS NOT NULL AND ts_start IS NOT NULL
      AND finding_id NOT IN (SELECT finding_id FROM links WHERE finding_id IS NOT NULL)
      AND NOT list_bool_and(list_transform(coalesce(evidence_refs, []), lambda r: r.tbl = 'agent_steps'))
), needles AS (
    SELECT DISTINCT finding_id, dst_ip AS needle, 'its command names ' || dst_ip AS why FROM f
    UNION
    SELECT DISTINCT f.finding_id, n.name, format('its command names {}, which resolved to {} ({} {})', n.name, f.dst_ip,
                                                   n.tbl, n.locator)
    FROM f JOIN name_addresses n ON n.ip = f.dst_ip
), traj AS (
    SELECT value AS trajectory_id, any_value(host) AS host, any_value(sandbox) AS sandbox,
           any_value(json_extract_string(attributes, '$.sandbox_ip')) AS sandbox_ip
    FROM entities WHERE kind = 'trajectory' GROUP BY value
), steps AS (
    -- steps on the finding's host that ran just before it, then those whose command names it
    SELECT s.*, nd.why, coalesce(s.host, t.host) AS step_host, coalesce(s.sandbox_ip, t.sandbox_ip) AS step_ip,
           coalesce(s.sandbox, t.sandbox) AS step_sandbox, f.finding_id
    FROM f
    JOIN agent_steps_corrected s ON s.ts_corrected BETWEEN f.ts_start_corrected - to_seconds($link_window_s) - INTERVAL 1 HOUR
                                                      AND f.ts_start_corrected + to_seconds($clock_tolerance_s)
    LEFT JOIN traj t ON t.trajectory_id = s.trajectory_id
    JOIN needles nd ON nd.finding_id = f.finding_id AND contains(s.command, nd.needle)
    WHERE s.action = 'exec' AND s.command IS NOT NULL AND s.ts IS NOT NULL
      AND coalesce(s.host, t.host) = f.host
      AND NOT EXISTS (SELECT 1 FROM link_steps l WHERE l.evidence_id = s.evidence_id AND l.locator = s.locator AND l.serious)
), host_ips AS (
    SELECT ip, host FROM host_addresses WHERE sandbox IS NULL
)
SELECT f.finding_id, f.kind, f.severity, f.ts_start_corrected AS ts_start, f.host, f.src_ip, f.dst_ip, f.dst_port,
       f.summary, s.run_id, s.trajectory_id, s.step, s.ts_corrected AS step_ts, left(s.command, 400) AS command,
       format('explained by {} step {} ({}), which has no suspicious indicator: {}; from {}; {:.3f} s after the step',
              s.trajectory_id, s.step, left(s.command, 120), s.why,
              CASE WHEN f.src_ip = s.step_ip THEN 'its sandbox ' || coalesce(s.step_sandbox, '') || ' (' || f.src_ip || ')'
                   ELSE 'its host ' || s.step_host END,
              epoch(f.ts_start_corrected) - epoch(s.ts_corrected)) AS reason,
       f.evidence_refs
FROM f JOIN steps s ON s.finding_id = f.finding_id
WHERE f.ts_start_corrected BETWEEN s.ts_corrected - to_seconds($clock_tolerance_s)
                               AND greatest(coalesce(s.ts_end_corrected, s.ts_corrected), s.ts_corrected) + to_seconds($link_window_s)
  AND (f.src_ip = s.step_ip OR f.host = s.step_host
       OR EXISTS (SELECT 1 FROM host_ips h WHERE h.ip = f.src_ip AND h.host = s.step_host))
QUALIFY row_number() OVER (PARTITION BY f.finding_id ORDER BY (f.src_ip = s.step_ip) DESC,
                           abs(epoch(f.ts_start_corrected) - epoch(s.ts_corrected)), s.trajectory_id, s.step) = 1
ORDER BY f.ts_start_corrected, f.finding_id
