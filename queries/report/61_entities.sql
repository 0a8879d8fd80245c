-- title: Identities and inventory
-- description: Every identity fact (IP, public IP, GPU, sandbox, container, job) tied to a host and a
--   time range, with the source that stated it.
-- empty: omit
-- max_rows: 500
SELECT en.kind, en.value, en.host, en.job, en.sandbox, en.valid_from, en.valid_to, en.source,
       e.path || coalesce('!' || e.member, '') AS file, en.locator
FROM entities en LEFT JOIN evidence e USING (evidence_id)
WHERE en.kind NOT IN ('evidence_hint')
ORDER BY en.kind, en.value, en.host NULLS FIRST, en.valid_from NULLS FIRST, en.source, en.evidence_id, en.locator,
         en.job, en.sandbox, en.valid_to
