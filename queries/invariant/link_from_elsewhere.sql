-- title: Invariant: no agent step is blamed for traffic that came from somewhere else
-- description: Network effect rows (firewall, flow-log, kernel-log and capture records) linked to a
--   step whose source address is none of the step's places (its sandbox's address, its host's
--   private or public addresses). Inbound traffic from outside, another host's sweep or another
--   node's connections can never be an agent step's effect. Must be empty.
WITH r AS (
    SELECT l.link_id, l.cause_evidence_id, l.cause_locator, l.trajectory_id, l.step, r.tbl, r.evidence_id, r.locator
    FROM links l JOIN link_rows r USING (link_id)
    WHERE r.tbl IN ('net_events', 'flows')
), src AS (
    SELECT r.*, n.src_ip, n.src_private_ip FROM r JOIN net_events n
        ON r.tbl = 'net_events' AND n.evidence_id = r.evidence_id AND n.locator = r.locator
    UNION ALL
    SELECT r.*, f.orig_h, NULL FROM r JOIN flows f ON r.tbl = 'flows' AND f.evidence_id = r.evidence_id AND f.locator = r.locator
)
SELECT s.* FROM src s
WHERE (s.src_ip IS NOT NULL OR s.src_private_ip IS NOT NULL)
  AND NOT EXISTS (SELECT 1 FROM link_step_places p WHERE p.evidence_id = s.cause_evidence_id
                  AND p.locator = s.cause_locator AND p.ip IN (s.src_ip, s.src_private_ip))
