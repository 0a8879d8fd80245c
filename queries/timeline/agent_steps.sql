-- title: Agent steps on the timeline
-- description: Every executed command, file write and submission of every trajectory, at the step's
--   time (steps without a known time are left out), with the categories found in it.
SELECT s.ts, s.host, 'agent' AS source, s.action AS kind,
       coalesce(s.trajectory_id, '?') || ' step ' || coalesce(s.step::VARCHAR, '?') || ': '
           || coalesce(left(s.command, 200), s.file_path, s.action)
           || coalesce(' [' || c.categories || ']', '') AS summary,
       CASE WHEN c.categories SIMILAR TO '.*(tunnel|mining).*' THEN 'high'
            WHEN c.categories SIMILAR TO '.*(scan|download_exec|defense_evasion|credential_access).*' THEN 'medium'
            WHEN c.categories IS NOT NULL THEN 'low' ELSE 'info' END AS severity,
       s.evidence_id, s.locator
FROM agent_steps s
LEFT JOIN (SELECT evidence_id, locator, string_agg(DISTINCT category, ',' ORDER BY category) AS categories
           FROM agent_actions GROUP BY ALL) c USING (evidence_id, locator)
WHERE s.ts IS NOT NULL AND s.action IN ('exec', 'write', 'edit', 'submit')
