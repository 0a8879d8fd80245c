-- title: Hashes of scripts agents wrote and ran
-- description: SHA-256 of files an agent wrote (heredocs, echo, editor tools) whose later run
--   carried flagged indicators (agent_actions with basis script:PATH, reconnaissance left out).
SELECT DISTINCT 'sha256' AS type, s.content_sha256 AS value, 'agent_script/' || a.category AS kind,
       CASE WHEN a.attack_id IS NULL THEN []::VARCHAR[] ELSE [a.attack_id] END AS attack_ids,
       a.ts AS first_seen, a.ts AS last_seen, 'agent_scripts' AS source, s.evidence_id, s.locator
FROM agent_scripts s
JOIN agent_actions a ON a.trajectory_id = s.trajectory_id AND a.basis = 'script:' || s.path
WHERE s.content_sha256 IS NOT NULL AND a.category <> 'recon'
