-- title: Invariant: nothing is both attributed and unattributed
-- description: Unattributed items whose finding or evidence rows are linked to an agent step, and
--   incidents without a serious agent step behind them. Must be empty.
SELECT 'unattributed finding is linked' AS problem, u.finding_id AS id
FROM unattributed u WHERE u.finding_id IN (SELECT finding_id FROM links WHERE finding_id IS NOT NULL)
UNION ALL
SELECT 'unattributed records are linked', u.src_ip
FROM unattributed u, unnest(u.evidence_refs) AS t(r)
WHERE u.item_kind = 'network'
  AND EXISTS (SELECT 1 FROM link_rows lr WHERE lr.tbl = t.r.tbl AND lr.evidence_id = t.r.evidence_id AND lr.locator = t.r.locator)
UNION ALL
SELECT 'incident without a serious agent step', CAST(i.incident_id AS VARCHAR)
FROM incidents i
WHERE NOT EXISTS (SELECT 1 FROM links l JOIN link_steps s ON s.evidence_id = l.cause_evidence_id
                  AND s.locator = l.cause_locator WHERE l.incident_id = i.incident_id AND s.serious AND NOT l.weak)
