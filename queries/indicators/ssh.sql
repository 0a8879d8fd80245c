-- title: Indicators from suspected SSH tunnels
-- description: HASSH fingerprints and external endpoints of SSH sessions whose packet-level signals
--   point to a reverse tunnel (tunnel_score of 0.5 or more, or the SSH client on the TCP responder's
--   side), tagged T1572 Protocol Tunneling and T1021.004 Remote Services: SSH.
WITH s AS (
    SELECT * FROM ssh_sessions WHERE coalesce(tunnel_score, 0) >= 0.5 OR coalesce(role_inverted, false)
)
SELECT 'hassh' AS type, hassh AS value, 'ssh_tunnel/client' AS kind, ['T1572', 'T1021.004'] AS attack_ids,
       ts AS first_seen, ts + to_microseconds(CAST(coalesce(duration, 0) * 1e6 AS BIGINT)) AS last_seen,
       'ssh_sessions' AS source, evidence_id, locator
FROM s WHERE hassh IS NOT NULL
UNION ALL
SELECT 'hassh', hassh_server, 'ssh_tunnel/server', ['T1572', 'T1021.004'], ts,
       ts + to_microseconds(CAST(coalesce(duration, 0) * 1e6 AS BIGINT)), 'ssh_sessions', evidence_id, locator
FROM s WHERE hassh_server IS NOT NULL
UNION ALL
SELECT 'ip', CASE WHEN ip_is_private(resp_h) THEN orig_h ELSE resp_h END, 'ssh_tunnel/endpoint',
       ['T1572', 'T1021.004'], ts, ts + to_microseconds(CAST(coalesce(duration, 0) * 1e6 AS BIGINT)),
       'ssh_sessions', evidence_id, locator
FROM s WHERE NOT (ip_is_private(resp_h) AND ip_is_private(orig_h))
