-- title: Indicators from findings
-- description: External addresses of findings (severity above info) and the wallets, URLs, domains,
--   hashes and HASSH/JA3 fingerprints named in their details, each with the finding's ATT&CK ids.
WITH f AS (
    SELECT * FROM findings WHERE coalesce(severity, '') <> 'info'
), detail_keys(key, type) AS (
    VALUES ('wallet', 'wallet'), ('pool_url', 'url'), ('url', 'url'), ('pool', 'url'), ('domain', 'domain'),
           ('pool_dns', 'domain'), ('pool_sni', 'domain'), ('dst_host', 'domain'), ('server_name', 'domain'),
           ('sni', 'domain'), ('hassh', 'hassh'), ('hassh_server', 'hassh'), ('ja3', 'ja3'), ('sha256', 'sha256')
), details AS (
    SELECT f.*, k.key, k.type, json_extract_string(f.details, '$.' || k.key) AS raw
    FROM f CROSS JOIN detail_keys k
    WHERE f.details IS NOT NULL
), classified AS (
    -- host:port and bare names become domains (or addresses), full URLs stay URLs
    SELECT *,
           CASE WHEN type IN ('url', 'domain') AND NOT contains(raw, '://') THEN
                    CASE WHEN regexp_full_match(split_part(raw, ':', 1), '\d{1,3}(\.\d{1,3}){3}') THEN 'ip'
                         ELSE 'domain' END
                ELSE type END AS kind_of_value,
           CASE WHEN type IN ('url', 'domain') AND NOT contains(raw, '://') THEN lower(split_part(raw, ':', 1))
                ELSE raw END AS value
    FROM details
    WHERE raw IS NOT NULL AND raw <> ''
)
SELECT 'ip' AS type, dst_ip AS value, kind, attack_ids, ts_start AS first_seen,
       coalesce(ts_end, ts_start) AS last_seen, 'findings' AS source,
       evidence_refs[1].evidence_id AS evidence_id, evidence_refs[1].locator AS locator
FROM f WHERE dst_ip IS NOT NULL AND NOT ip_is_internal(dst_ip) AND NOT ip_is_private(dst_ip)
UNION ALL
SELECT 'ip', src_ip, kind, attack_ids, ts_start, coalesce(ts_end, ts_start), 'findings',
       evidence_refs[1].evidence_id, evidence_refs[1].locator
FROM f WHERE src_ip IS NOT NULL AND NOT ip_is_internal(src_ip) AND NOT ip_is_private(src_ip)
    AND src_ip NOT IN (SELECT ip FROM host_addresses WHERE ip IS NOT NULL)
UNION ALL
SELECT kind_of_value, value, kind, attack_ids, ts_start, coalesce(ts_end, ts_start), 'findings.details.' || key,
       evidence_refs[1].evidence_id, evidence_refs[1].locator
FROM classified
WHERE value <> '' AND NOT (kind_of_value = 'ip' AND (ip_is_private(value) OR ip_is_internal(value)))
