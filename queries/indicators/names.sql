-- title: Names behind indicator addresses
-- description: Domain names and URLs that led to the external addresses of findings: DNS queries
--   answered with the address, TLS server names and HTTP requests sent to it; each carries the
--   finding's ATT&CK ids.
WITH bad AS (
    SELECT dst_ip AS ip, kind, attack_ids FROM findings
    WHERE dst_ip IS NOT NULL AND coalesce(severity, '') <> 'info' AND NOT ip_is_private(dst_ip)
)
SELECT 'domain' AS type, lower(d.query) AS value, b.kind || '/dns' AS kind, b.attack_ids,
       d.ts AS first_seen, d.ts AS last_seen, 'dns' AS source, d.evidence_id, d.locator
FROM dns d JOIN bad b ON list_contains(d.answers, b.ip)
WHERE d.query IS NOT NULL
UNION ALL
SELECT 'domain', lower(t.server_name), b.kind || '/tls', b.attack_ids, t.ts, t.ts, 'tls', t.evidence_id, t.locator
FROM tls t JOIN bad b ON t.resp_h = b.ip
WHERE t.server_name IS NOT NULL
UNION ALL
SELECT 'url', 'http://' || coalesce(h.host_header, h.resp_h) || coalesce(h.uri, '/'), b.kind || '/http',
       b.attack_ids, h.ts, h.ts, 'http', h.evidence_id, h.locator
FROM http h JOIN bad b ON h.resp_h = b.ip
UNION ALL
SELECT 'domain', lower(split_part(h.host_header, ':', 1)), b.kind || '/http', b.attack_ids, h.ts, h.ts, 'http',
       h.evidence_id, h.locator
FROM http h JOIN bad b ON h.resp_h = b.ip
WHERE h.host_header IS NOT NULL AND NOT regexp_full_match(split_part(h.host_header, ':', 1), '[0-9.]+')
