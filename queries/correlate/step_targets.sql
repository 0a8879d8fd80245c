-- title: Link stage: what each step names
-- description: From agent_actions of the steps in link_steps: addresses and ranges (as integer
--   bounds for IPv4), host names with every address the evidence saw them resolve to (DNS
--   answers, TLS SNI, HTTP Host; any time, any host: traj B may reuse a name traj A's capture
--   resolved), ports, URLs, wallets and program names. via says how an address was obtained.
WITH a AS (
    SELECT x.* FROM agent_actions x
    SEMI JOIN link_steps s ON s.evidence_id = x.evidence_id AND s.locator = x.locator
), addresses AS (
    SELECT evidence_id, locator, 'address' AS target_kind, indicator_value AS value, ip, ip_end,
           ipv4_to_int(ip) AS ip_lo, ipv4_to_int(coalesce(ip_end, ip)) AS ip_hi, hostname, port,
           'named in the command' AS via, category, technique
    FROM a WHERE ip IS NOT NULL
), names AS (
    SELECT DISTINCT evidence_id, locator, lower(rtrim(hostname, '.')) AS hostname, port, category, technique
    FROM a WHERE hostname IS NOT NULL AND ip IS NULL
), resolved AS (
    SELECT n.evidence_id, n.locator, 'address' AS target_kind, n.hostname AS value, r.ip, NULL AS ip_end,
           ipv4_to_int(r.ip) AS ip_lo, ipv4_to_int(r.ip) AS ip_hi, n.hostname, n.port,
           format('{} resolved to {} ({} {}:{})', n.hostname, r.ip, r.tbl, r.evidence_id, r.locator) AS via,
           n.category, n.technique
    FROM names n
    JOIN (SELECT name, ip, arg_min(tbl, ts) AS tbl, arg_min(evidence_id, ts) AS evidence_id,
                 arg_min(locator, ts) AS locator
          FROM name_addresses GROUP BY name, ip) r ON r.name = n.hostname
), others AS (
    SELECT evidence_id, locator,
           CASE indicator_kind WHEN 'port' THEN 'port' WHEN 'url' THEN 'url' WHEN 'wallet' THEN 'wallet'
                               WHEN 'binary' THEN 'binary' WHEN 'host' THEN 'name' END AS target_kind,
           indicator_value AS value, NULL AS ip, NULL AS ip_end, NULL::BIGINT AS ip_lo, NULL::BIGINT AS ip_hi,
           lower(hostname) AS hostname, port, 'named in the command' AS via, category, technique
    FROM a WHERE indicator_kind IN ('port', 'url', 'wallet', 'binary', 'host')
)
SELECT DISTINCT * FROM (
    SELECT * FROM addresses UNION ALL SELECT * FROM resolved UNION ALL SELECT * FROM others
)
