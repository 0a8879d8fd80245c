-- title: Lookups and TLS connections to mining-pool names
-- description: DNS queries and TLS server names (SNI) that look like mining pools (labels such as
--   xmr, monero, pool, stratum, nanopool, supportxmr, hashvault, minergate, nicehash, 2miners ...).
--   Pools reached over TLS (stratum+ssl, port 443) show no plaintext stratum, so the name is the
--   evidence; names whose answered address also carries a plaintext stratum session are left to
--   detect/mining_stratum. One finding per name and host, with the addresses it resolved to.
-- param pool_name_regex: '(^|[.-])(xmr|monero|minergate|nanopool|supportxmr|hashvault|moneroocean|herominers|2miners|f2pool|nicehash|ethermine|flypool|antpool|viabtc|slushpool|c3pool|unmineable|minexmr|stratum|mining|miningpool|pool|xmrpool|cryptonight)([.-]|$)'  -- a name matching this (lower case) is a pool name
-- attack: T1496.001
WITH hits AS (
    SELECT 'dns' AS via, d.ts, d.host, d.orig_h, d.resp_h AS server, lower(d.query) AS name, d.answers,
           NULL::INTEGER AS port, d.evidence_id, d.locator, 'dns' AS tbl
    FROM dns d WHERE regexp_matches(lower(d.query), $pool_name_regex)
    UNION ALL
    SELECT 'tls', t.ts, t.host, t.orig_h, t.resp_h, lower(t.server_name), [t.resp_h], t.resp_p,
           t.evidence_id, t.locator, 'tls'
    FROM tls t WHERE t.server_name IS NOT NULL AND regexp_matches(lower(t.server_name), $pool_name_regex)
), g AS (
    SELECT name, host, any_value(orig_h) AS orig_h, min(ts) AS ts_start, max(ts) AS ts_end,
           list(DISTINCT via ORDER BY via) AS via, count(*) AS n,
           list_distinct(flatten(list(coalesce(answers, [])))) AS addresses,
           arg_min(port, ts) FILTER (WHERE port IS NOT NULL) AS tls_port,
           arg_min(server, ts) FILTER (WHERE via = 'tls') AS tls_server,
           list({'tbl': tbl, 'evidence_id': evidence_id, 'locator': locator} ORDER BY ts)[1:5] AS evidence_refs
    FROM hits GROUP BY name, host
)
SELECT 'mining' AS kind,
       CASE WHEN list_contains(g.via, 'tls') THEN 'high' ELSE 'medium' END AS severity,
       CASE WHEN list_contains(g.via, 'tls') THEN 0.7 ELSE 0.5 END AS confidence,
       g.ts_start, g.ts_end, g.host, g.orig_h AS src_ip,
       coalesce(g.tls_server, g.addresses[1]) AS dst_ip, g.tls_port AS dst_port,
       CASE WHEN list_contains(g.via, 'tls') THEN 'TLS connection to mining-pool name ' ELSE 'DNS lookup of mining-pool name ' END
           || g.name || coalesce(' from ' || g.orig_h, '') || coalesce(' on ' || g.host, '')
           || CASE WHEN len(g.addresses) > 0 THEN ' (' || array_to_string(g.addresses[1:4], ', ') || ')' ELSE '' END
           AS summary,
       g.evidence_refs,
       json_object('name', g.name, 'via', g.via, 'count', g.n, 'addresses', g.addresses) AS details
FROM g
WHERE NOT EXISTS (
    SELECT 1 FROM jsonrpc_msgs j
    WHERE list_contains(g.addresses, j.resp_h)
      AND (lower(j.method) LIKE 'mining.%' OR lower(j.method) IN ('login', 'submit', 'job', 'eth_submitlogin', 'eth_getwork'))
)
