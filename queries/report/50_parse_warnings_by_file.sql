-- title: Parse warnings by file and reason
-- description: Input that was rejected or doubted, counted per evidence file and reason: a report
--   that hides dropped input is not trustworthy. The first locator shows where to start reading.
SELECT e.path || coalesce('!' || e.member, '') AS file, e.sha256, w.reason, count(*) AS warnings,
       arg_min(w.locator, w.rowid) AS first_locator
FROM parse_warnings w LEFT JOIN evidence e USING (evidence_id)
GROUP BY ALL
ORDER BY file, w.reason, e.sha256
