-- title: Findings a benign step explains
-- description: Findings that an agent step without suspicious indicators accounts for (a git clone
--   over SSH, a package download), so they are neither part of an incident nor unattributed: the
--   step, its command and the reason, with the finding's evidence.
-- empty: omit
WITH refs AS (
    SELECT b.rowid AS item, generate_subscripts(b.evidence_refs, 1) AS ref_index, unnest(b.evidence_refs) AS ref
    FROM explained_benign b
), listed AS (
    SELECT r.item,
           list({'table': r.ref.tbl, 'file': e.path || coalesce('!' || e.member, ''), 'sha256': e.sha256,
                 'locator': r.ref.locator} ORDER BY r.ref_index) AS evidence
    FROM refs r LEFT JOIN evidence e ON e.evidence_id = r.ref.evidence_id
    GROUP BY r.item
)
SELECT b.kind, b.severity, b.ts_start, b.host, b.dst_ip, b.dst_port, b.summary, b.trajectory_id, b.step,
       b.command, b.reason, l.evidence[1:10] AS evidence
FROM explained_benign b LEFT JOIN listed l ON l.item = b.rowid
ORDER BY b.ts_start NULLS LAST, b.kind, b.finding_id, b.trajectory_id, b.step
