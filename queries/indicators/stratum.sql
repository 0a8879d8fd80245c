-- title: Indicators from stratum and JSON-RPC mining traffic
-- description: Mining pools (as stratum+tcp URLs and addresses) and the wallets that logged in to
--   them, from the messages captured on the wire (T1496 Resource Hijacking).
WITH m AS (
    SELECT * FROM jsonrpc_msgs
    WHERE wallet IS NOT NULL OR login IS NOT NULL
       OR method IN ('login', 'mining.subscribe', 'mining.authorize', 'mining.submit', 'submit',
                     'eth_submitLogin', 'eth_submitWork', 'eth_getWork')
)
SELECT 'wallet' AS type, coalesce(wallet, login) AS value, 'mining/login' AS kind, ['T1496'] AS attack_ids,
       min(ts) AS first_seen, max(ts) AS last_seen, 'jsonrpc_msgs' AS source,
       arg_min(evidence_id, ts) AS evidence_id, arg_min(locator, ts) AS locator
FROM m WHERE coalesce(wallet, login) IS NOT NULL
GROUP BY ALL
UNION ALL
SELECT 'url', 'stratum+tcp://' || resp_h || ':' || resp_p, 'mining/pool', ['T1496'], min(ts), max(ts),
       'jsonrpc_msgs', arg_min(evidence_id, ts), arg_min(locator, ts)
FROM m WHERE resp_h IS NOT NULL AND transport = 'tcp' AND NOT ip_is_private(resp_h)
GROUP BY ALL
UNION ALL
SELECT 'ip', resp_h, 'mining/pool', ['T1496'], min(ts), max(ts), 'jsonrpc_msgs', arg_min(evidence_id, ts),
       arg_min(locator, ts)
FROM m WHERE resp_h IS NOT NULL AND NOT ip_is_private(resp_h) AND NOT ip_is_internal(resp_h)
GROUP BY ALL
