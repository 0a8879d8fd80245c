-- title: Unattributed
-- description: What is suspicious and that no agent step in the evidence explains, most severe first,
--   with the reason (a session over the tunnel, traffic no step names, an alert before any step), the
--   incident it happened through if any, and its evidence (file, SHA-256, locator).
-- empty: omit
WITH refs AS (
    SELECT u.rowid AS item, generate_subscripts(u.evidence_refs, 1) AS ref_index, unnest(u.evidence_refs) AS ref
    FROM unattributed u
), listed AS (
    SELECT r.item,
           list({'table': r.ref.tbl, 'file': e.path || coalesce('!' || e.member, ''), 'sha256': e.sha256,
                 'locator': r.ref.locator} ORDER BY r.ref_index) AS evidence
    FROM refs r LEFT JOIN evidence e ON e.evidence_id = r.ref.evidence_id
    GROUP BY r.item
)
SELECT u.severity, u.kind, u.item_kind, u.ts_start, u.ts_end, u.host, u.src_ip, u.dst_ip, u.dst_port,
       u.n_records, u.summary, u.reason, u.related_incident_id, l.evidence[1:10] AS evidence
FROM unattributed u LEFT JOIN listed l ON l.item = u.rowid
ORDER BY CASE u.severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 WHEN 'low' THEN 3
                         WHEN 'info' THEN 4 ELSE 5 END,
         u.ts_start NULLS LAST, u.kind, u.summary, u.finding_id
