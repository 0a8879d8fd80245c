-- title: Timeline
-- description: The unified timeline of every source (the `timeline` view), oldest first, with the
--   evidence file each event comes from. Narrow it with since/until.
-- max_rows: 2000
-- param since: null -- only events at or after this time (ISO 8601, UTC unless zoned)
-- param until: null -- only events at or before this time
SELECT t.ts, t.host, t.source, t.kind, t.severity, t.summary,
       e.path || coalesce('!' || e.member, '') AS file, t.locator
FROM timeline t LEFT JOIN evidence e USING (evidence_id)
WHERE ($since IS NULL OR t.ts >= CAST($since AS TIMESTAMPTZ))
  AND ($until IS NULL OR t.ts <= CAST($until AS TIMESTAMPTZ))
ORDER BY t.ts NULLS LAST, t.source, t.evidence_id, t.locator, t.kind, t.summary, t.severity, t.host
