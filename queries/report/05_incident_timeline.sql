-- title: Incident timelines
-- description: Per incident, every link in time order: the agent step (trajectory, step, corrected
--   time, command), the effect it caused (kind, corrected time, delay after the step, host, rows,
--   summary), the basis (indicator, place or time alone) with its confidence, and the evidence of
--   both ends (file, SHA-256, locator).
-- group: incident
-- empty: omit
-- max_rows: 2000
WITH refs AS (
    SELECT link_id, generate_subscripts(evidence_refs, 1) AS ref_index, unnest(evidence_refs) AS ref
    FROM links WHERE incident_id IS NOT NULL
), listed AS (
    SELECT r.link_id,
           list({'table': r.ref.tbl, 'file': e.path || coalesce('!' || e.member, ''), 'sha256': e.sha256,
                 'locator': r.ref.locator} ORDER BY r.ref_index) AS evidence
    FROM refs r LEFT JOIN evidence e ON e.evidence_id = r.ref.evidence_id
    GROUP BY r.link_id
)
SELECT 'incident ' || l.incident_id || coalesce(': ' || i.title, '') AS incident,
       l.cause_ts AS step_ts, l.trajectory_id, l.step, l.command, l.effect_kind,
       l.effect_ts_corrected AS effect_ts, l.delta_s, l.effect_host, l.effect_count, l.effect_summary,
       l.basis, l.confidence, le.evidence
FROM links l
LEFT JOIN incidents i USING (incident_id)
LEFT JOIN listed le USING (link_id)
WHERE l.incident_id IS NOT NULL
ORDER BY l.incident_id, l.cause_ts, l.effect_ts_corrected NULLS LAST, l.effect_kind, l.link_id
