-- title: Link stage: the agent steps that may cause effects
-- description: Every agent step with indicators (agent_actions), clock-corrected, with its sandbox,
--   container, host and sandbox address taken from the step or, failing that, from its
--   trajectory's lease in entities. serious marks steps with more than reconnaissance or bare
--   detachment (nohup, &): those start incidents; the others join one through their trajectory.
WITH acts AS (
    SELECT evidence_id, locator, list(DISTINCT category ORDER BY category) AS categories,
           list(DISTINCT technique ORDER BY technique) AS techniques,
           bool_or(category NOT IN ('recon') AND NOT (category = 'persistence' AND technique = 'detach')) AS serious
    FROM agent_actions WHERE evidence_id IS NOT NULL AND locator IS NOT NULL
    GROUP BY evidence_id, locator
), traj AS (
    SELECT value AS trajectory_id, any_value(host) AS host, any_value(sandbox) AS sandbox,
           any_value(json_extract_string(attributes, '$.sandbox_ip')) AS sandbox_ip,
           any_value(json_extract_string(attributes, '$.container_id')) AS container_id
    FROM entities WHERE kind = 'trajectory' GROUP BY value
)
SELECT s.run_id, s.trajectory_id, s.step, s.call_index, s.ts_corrected AS ts,
       greatest(coalesce(s.ts_end_corrected, s.ts_corrected), s.ts_corrected) AS ts_end, s.ts AS ts_recorded,
       s.ts_basis, left(s.command, 2000) AS command, s.exit_code,
       coalesce(s.sandbox, t.sandbox) AS sandbox, coalesce(s.container_id, t.container_id) AS container_id,
       coalesce(s.host, t.host) AS host, coalesce(s.sandbox_ip, t.sandbox_ip) AS sandbox_ip,
       a.categories, a.techniques, a.serious, s.evidence_id, s.locator
FROM agent_steps_corrected s
JOIN acts a ON a.evidence_id = s.evidence_id AND a.locator = s.locator
LEFT JOIN traj t ON t.trajectory_id = s.trajectory_id
WHERE s.ts IS NOT NULL
