-- title: Findings on the timeline
-- description: One timeline event per stored finding, at its start.
SELECT ts_start AS ts, host, 'finding' AS source, kind, coalesce(summary, title) AS summary, severity,
       evidence_refs[1].evidence_id AS evidence_id, 'finding:' || finding_id AS locator
FROM findings
