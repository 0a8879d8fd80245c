-- title: Findings
-- description: Every detection result, most severe first, with the evidence it rests on: the file,
--   its SHA-256 and the locator (line, frame or trajectory step) to open. At most 20 references
--   are listed per finding; evidence_refs counts them all.
-- layout: record
-- heading: severity, title
WITH refs AS (
    SELECT finding_id, generate_subscripts(evidence_refs, 1) AS ref_index, unnest(evidence_refs) AS ref
    FROM findings
), listed AS (
    SELECT r.finding_id,
           list({'table': r.ref.tbl, 'file': e.path || coalesce('!' || e.member, ''), 'sha256': e.sha256,
                 'locator': r.ref.locator} ORDER BY r.ref_index) AS evidence
    FROM refs r LEFT JOIN evidence e ON e.evidence_id = r.ref.evidence_id
    GROUP BY r.finding_id
)
SELECT f.severity, f.kind, f.title, f.ts_start, f.ts_end, f.host, f.src_ip, f.dst_ip, f.dst_port,
       f.confidence, f.attack_ids, f.summary, f.detector, f.finding_id,
       coalesce(len(f.evidence_refs), 0) AS evidence_refs, l.evidence[1:20] AS evidence, f.details
FROM findings f LEFT JOIN listed l USING (finding_id)
ORDER BY CASE f.severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 WHEN 'low' THEN 3
                         WHEN 'info' THEN 4 ELSE 5 END,
         f.ts_start NULLS LAST, f.finding_id, f.detector, f.summary
