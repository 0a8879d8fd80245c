-- title: Link stage: where each step's traffic can come from
-- description: For every step in link_steps: its sandbox's address while the lease covers the step
--   (entities ip leases; the trajectory's own sandbox_ip when no lease is recorded), the host's
--   private addresses (traffic leaves the node source-NATed to them) and public addresses (the
--   EIP the cloud firewall sees), each with the time it belongs to that place.
WITH s AS (SELECT * FROM link_steps)
SELECT s.evidence_id, s.locator, a.ip, 'sandbox' AS place, a.host, a.sandbox, a.valid_from, a.valid_to
FROM s JOIN host_addresses a ON a.sandbox = s.sandbox
    AND (a.valid_from IS NULL OR a.valid_from <= s.ts_end)
    AND (a.valid_to IS NULL OR a.valid_to >= s.ts)
UNION
SELECT s.evidence_id, s.locator, s.sandbox_ip, 'sandbox', s.host, s.sandbox, NULL, NULL
FROM s WHERE s.sandbox_ip IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM host_addresses a WHERE a.sandbox = s.sandbox)
UNION
SELECT s.evidence_id, s.locator, a.ip, CASE WHEN a.address_kind = 'public_ip' THEN 'public' ELSE 'host' END,
       a.host, NULL, a.valid_from, a.valid_to
FROM s JOIN host_addresses a ON a.host = s.host AND a.sandbox IS NULL
