-- title: Parse warnings
-- description: Each rejected or doubtful record with its locator and a bounded excerpt of the input,
--   as the parser saw it.
-- max_rows: 500
SELECT e.path || coalesce('!' || e.member, '') AS file, w.locator, w.reason, w.excerpt, w.parser
FROM parse_warnings w LEFT JOIN evidence e USING (evidence_id)
ORDER BY w.evidence_id, w.locator NULLS LAST, w.reason, w.excerpt, w.parser
