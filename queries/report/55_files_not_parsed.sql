-- title: Files not parsed
-- description: Evidence files no parser claimed (unclaimed) or whose parser failed, with their
--   SHA-256: they were kept in the registry but contribute no records.
SELECT e.path || coalesce('!' || e.member, '') AS file, e.status, e.size, e.sha256,
       (SELECT min(w.reason) FROM parse_warnings w WHERE w.evidence_id = e.evidence_id) AS reason
FROM evidence e
WHERE e.status IN ('unclaimed', 'failed')
ORDER BY e.status, file, e.evidence_id
