-- title: Incident answer: pool, coin, wallet and shares
-- description: Per mining step of an incident (a pool URL, wallet or miner run): the pool as the
--   command names it (URL, host, port) and the address it resolved to, the wallet and password,
--   the miner; from the stratum session the capture holds (detect/mining_stratum, linked to the
--   step): the login, agent, algorithm, the coin or "unknown" with the reason, and the shares
--   submitted, accepted and rejected with the rejection reasons and the window they cover;
--   whether firewall or later records show the session going on past the capture.
-- answer: mining
-- shape: many
WITH msteps AS (
    SELECT DISTINCT l.incident_id, s.*
    FROM links l JOIN link_steps s ON s.evidence_id = l.cause_evidence_id AND s.locator = l.cause_locator
    WHERE l.incident_id IS NOT NULL AND list_contains(s.categories, 'mining')
      AND list_has_any(s.techniques, ['pool_url', 'wallet', 'miner_binary'])
), t AS (
    SELECT evidence_id, locator,
           arg_min(value, value) FILTER (WHERE target_kind = 'url' AND regexp_matches(lower(value), '^stratum')) AS pool_url,
           arg_min(hostname, value) FILTER (WHERE target_kind = 'url' AND regexp_matches(lower(value), '^stratum')) AS pool_host,
           arg_min(port, value) FILTER (WHERE target_kind = 'url' AND regexp_matches(lower(value), '^stratum')) AS pool_port,
           list(DISTINCT ip ORDER BY ip) FILTER (WHERE target_kind = 'address' AND category = 'mining') AS pool_ips,
           arg_min(value, value) FILTER (WHERE target_kind = 'wallet') AS wallet,
           list(DISTINCT value ORDER BY value) FILTER (WHERE target_kind = 'binary') AS binaries
    FROM link_step_targets GROUP BY ALL
), coin_hint AS (
    SELECT evidence_id, locator, arg_min(regexp_extract(detail, 'coin=([A-Za-z0-9_-]+)', 1), detail) AS coin
    FROM agent_actions WHERE indicator_kind = 'wallet' AND detail LIKE 'coin=%' GROUP BY ALL
), session AS (
    SELECT l.cause_evidence_id, l.cause_locator, f.finding_id, f.details, f.dst_ip, f.dst_port, f.ts_start, f.ts_end
    FROM links l JOIN findings f ON f.finding_id = l.finding_id
    WHERE l.effect_kind = 'finding' AND f.detector = 'detect/mining_stratum'
    QUALIFY row_number() OVER (PARTITION BY l.cause_evidence_id, l.cause_locator ORDER BY f.ts_start, f.finding_id) = 1
), conn AS (
    -- the last record of the pool connection in any source (a firewall writes long sessions to their end)
    SELECT l.cause_evidence_id, l.cause_locator, max(l.effect_ts_end) AS last_record
    FROM links l
    WHERE l.effect_kind IN ('connection', 'firewall_alert')
    GROUP BY ALL
), proc AS (
    SELECT l.cause_evidence_id, l.cause_locator, list(DISTINCT p.pid ORDER BY p.pid) AS pids,
           arg_max(p.exe, p.ts) AS exe
    FROM links l JOIN link_rows lr USING (link_id)
    JOIN processes p ON lr.tbl = 'processes' AND p.evidence_id = lr.evidence_id AND p.locator = lr.locator
    WHERE l.effect_kind = 'process_exec'
    GROUP BY ALL
)
SELECT m.incident_id,
       {'run_id': m.run_id, 'trajectory_id': m.trajectory_id, 'step': m.step, 'step_ts': m.ts, 'command': m.command,
        'host': m.host, 'sandbox': m.sandbox,
        'pool': {'url': t.pool_url, 'host': t.pool_host, 'port': t.pool_port,
                 'addresses': coalesce(t.pool_ips, []),
                 'session': CASE WHEN s.finding_id IS NOT NULL THEN s.dst_ip || ':' || s.dst_port END},
        'wallet': coalesce(json_extract_string(s.details, '$.wallet'), t.wallet),
        'wallet_in_command': t.wallet,
        'password': nullif(regexp_extract(m.command, '\s(?:-p|--pass)[= ]+(\S+)', 1), ''),
        'miner': {'binaries': t.binaries, 'exe': pr.exe, 'pids': pr.pids,
                  'agent': json_extract_string(s.details, '$.agent')},
        'algorithm': json_extract_string(s.details, '$.algo'),
        'coin': coalesce(json_extract_string(s.details, '$.coin'),
                         CASE WHEN ch.coin IS NOT NULL THEN upper(left(ch.coin, 1)) || substr(ch.coin, 2) END, 'unknown'),
        'coin_reason': CASE WHEN json_extract_string(s.details, '$.coin') IS NOT NULL THEN json_extract_string(s.details, '$.coin_reason')
                            WHEN ch.coin IS NOT NULL THEN 'the wallet in the command has that coin''s address format; no stratum session was captured'
                            ELSE 'no stratum session in the captures (mining over TLS, or no capture of this host) and no wallet format to go by' END,
        'shares': CASE WHEN s.finding_id IS NOT NULL THEN
            {'submitted': TRY_CAST(json_extract(s.details, '$.shares_submitted') AS BIGINT),
             'accepted': TRY_CAST(json_extract(s.details, '$.shares_accepted') AS BIGINT),
             'rejected': TRY_CAST(json_extract(s.details, '$.shares_rejected') AS BIGINT),
             'unanswered': TRY_CAST(json_extract(s.details, '$.shares_unanswered') AS BIGINT),
             'rejection_reasons': json_extract(s.details, '$.rejection_reasons'),
             'seen_from': s.ts_start, 'seen_until': s.ts_end} END,
        'shares_note': CASE WHEN s.finding_id IS NULL THEN 'no stratum session in the captures: shares unknown'
                            WHEN c.last_record > s.ts_end + INTERVAL 60 SECOND
                            THEN format('shares are counted in the capture only (until {}); records of the connection go on until {}',
                                        strftime(s.ts_end, '%Y-%m-%d %H:%M:%S UTC'), strftime(c.last_record, '%Y-%m-%d %H:%M:%S UTC'))
                            ELSE 'shares counted over the whole session the capture holds' END,
        'session_last_record': c.last_record,
        'stratum_finding': s.finding_id,
        'evidence': {'tbl': 'agent_steps', 'evidence_id': m.evidence_id, 'locator': m.locator}} AS answer
FROM msteps m
LEFT JOIN t ON t.evidence_id = m.evidence_id AND t.locator = m.locator
LEFT JOIN coin_hint ch ON ch.evidence_id = m.evidence_id AND ch.locator = m.locator
LEFT JOIN session s ON s.cause_evidence_id = m.evidence_id AND s.cause_locator = m.locator
LEFT JOIN conn c ON c.cause_evidence_id = m.evidence_id AND c.cause_locator = m.locator
LEFT JOIN proc pr ON pr.cause_evidence_id = m.evidence_id AND pr.cause_locator = m.locator
ORDER BY m.incident_id, m.ts, m.trajectory_id, m.step
