-- title: Agent trajectories with flagged actions
-- description: Trajectories whose commands carry tunnel, scan, mining, download-and-run,
--   persistence, credential, evasion or exfiltration indicators (agent_actions), first flagged step
--   first.
-- empty: omit
-- max_rows: 200
SELECT a.run_id, a.trajectory_id, min(a.host) AS host, min(a.sandbox) AS sandbox,
       min(a.ts) AS first_flagged, min(a.step) AS first_step, count(DISTINCT a.step) AS flagged_steps,
       list(DISTINCT a.category ORDER BY a.category) AS categories,
       list(DISTINCT a.attack_id ORDER BY a.attack_id) FILTER (WHERE a.attack_id IS NOT NULL) AS attack_ids
FROM agent_actions a
WHERE a.category <> 'recon'
GROUP BY a.run_id, a.trajectory_id
ORDER BY first_flagged NULLS LAST, a.trajectory_id, a.run_id
