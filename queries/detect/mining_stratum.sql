-- title: Crypto-mining session (stratum, XMRig, getwork) in packet captures
-- description: One finding per connection that speaks a mining dialect of JSON-RPC (mining.subscribe /
--   authorize / submit / notify, XMRig login / job / submit, getblocktemplate, getwork,
--   eth_submitLogin / eth_getWork / eth_submitWork), on any port. Shares are counted per session:
--   each submit is matched to the pool's reply with the same JSON-RPC id (Stratum V1 result true and
--   error null, XMRig result.status OK: accepted; an error or result false: rejected, with the error
--   codes and messages); keepalives and hashrate reports are not shares. The coin is inferred from the
--   algorithm and the wallet format when the evidence allows, otherwise "unknown" with the reason. The
--   pool is named from DNS answers or TLS SNI for its address when the capture has them, and an agent
--   step that named the pool (agent_actions) is listed in details.
-- attack: T1496.001, T1571
WITH m AS (
    SELECT *, lower(method) AS lm FROM jsonrpc_msgs
), sessions AS (
    SELECT uid, evidence_id,
           any_value(host) AS host, any_value(orig_h) AS orig_h, any_value(orig_p) AS orig_p,
           any_value(resp_h) AS resp_h, any_value(resp_p) AS resp_p, any_value(transport) AS transport,
           min(ts) AS ts_start, max(ts) AS ts_end,
           -- the miner is the side that sends mining requests
           arg_min(direction, ts) FILTER (WHERE msg_kind = 'request' AND (lm LIKE 'mining.%' OR lm IN
               ('login', 'submit', 'getjob', 'eth_submitlogin', 'eth_getwork', 'eth_submitwork', 'getblocktemplate',
                'submitblock') OR lm LIKE '%getwork%')) AS miner_side,
           list(DISTINCT method ORDER BY method) FILTER (WHERE method IS NOT NULL) AS methods,
           arg_min(login, ts) FILTER (WHERE login IS NOT NULL) AS login,
           arg_min(wallet, ts) FILTER (WHERE wallet IS NOT NULL) AS wallet,
           arg_min(worker, ts) FILTER (WHERE worker IS NOT NULL AND lm <> 'mining.submit') AS worker,
           arg_min(agent, ts) FILTER (WHERE agent IS NOT NULL) AS agent,
           arg_min(algo, ts) FILTER (WHERE algo IS NOT NULL AND msg_kind = 'request') AS client_algo,
           arg_min(algo, ts) FILTER (WHERE algo IS NOT NULL AND msg_kind <> 'request') AS pool_algo,
           count(*) FILTER (WHERE lm IN ('job', 'mining.notify')) AS jobs,
           count(*) FILTER (WHERE lm = 'keepalived') AS keepalives,
           min(locator) FILTER (WHERE lm IN ('login', 'mining.authorize', 'mining.subscribe', 'eth_submitlogin'))
               AS login_locator,
           min(locator) AS first_locator
    FROM m GROUP BY uid, evidence_id
    HAVING bool_or(lm LIKE 'mining.%' OR lm IN ('login', 'job', 'submit', 'getjob', 'keepalived', 'eth_submitlogin',
                   'eth_getwork', 'eth_submitwork', 'eth_submithashrate', 'getblocktemplate', 'submitblock')
                   OR lm LIKE '%getwork%')
), submits AS (
    SELECT q.uid, q.evidence_id, q.ts, q.id AS req_id
    FROM m q JOIN sessions s ON s.uid = q.uid AND s.evidence_id = q.evidence_id AND q.direction = s.miner_side
    WHERE q.msg_kind = 'request' AND q.lm IN ('mining.submit', 'submit', 'eth_submitwork', 'submitblock')
      AND q.id IS NOT NULL
), replies AS (
    SELECT r.uid, r.evidence_id, r.id, r.ts, r.result, r.status, r.error, r.error_code, r.error_message
    FROM m r JOIN sessions s ON s.uid = r.uid AND s.evidence_id = r.evidence_id AND r.direction <> s.miner_side
    WHERE r.msg_kind = 'response'
), matched AS (
    -- each submit takes the pool's first reply with its id (ids may be reused over a long session)
    SELECT q.uid, q.evidence_id, q.req_id, q.ts,
           r.ts AS reply_ts, r.result, r.status, r.error, r.error_code, r.error_message,
           r.uid IS NOT NULL AS answered,
           r.uid IS NOT NULL AND (r.error IS NULL OR r.error::VARCHAR = 'null')
               AND (r.result::VARCHAR = 'true' OR upper(coalesce(r.status, '')) = 'OK') AS accepted
    FROM submits q ASOF LEFT JOIN replies r
         ON r.uid = q.uid AND r.evidence_id = q.evidence_id AND r.id = q.req_id AND r.ts >= q.ts
), shares AS (
    SELECT uid, evidence_id, count(*) AS submitted,
           count(*) FILTER (WHERE accepted) AS accepted,
           count(*) FILTER (WHERE answered AND NOT accepted) AS rejected,
           count(*) FILTER (WHERE NOT answered) AS unanswered,
           list(DISTINCT coalesce(error_code::VARCHAR || ' ', '') || coalesce(error_message, error::VARCHAR, 'result false'))
               FILTER (WHERE answered AND NOT accepted) AS rejection_reasons,
           min(ts) FILTER (WHERE accepted) AS first_accepted,
           max(ts) FILTER (WHERE accepted) AS last_accepted
    FROM matched GROUP BY uid, evidence_id
), names AS (
    SELECT s.uid, s.evidence_id,
           (SELECT string_agg(DISTINCT d.query, ', ' ORDER BY d.query) FROM dns d
             WHERE list_contains(d.answers, s.resp_h)) AS pool_dns,
           (SELECT string_agg(DISTINCT t.server_name, ', ' ORDER BY t.server_name) FROM tls t
             WHERE t.resp_h = s.resp_h AND t.server_name IS NOT NULL) AS pool_sni,
           -- getwork over HTTP names the wallet in the URL (POST /?miner=30@0x4b99...)
           (SELECT min(nullif(regexp_extract(h.uri, '(0x[0-9a-fA-F]{40}|[48][1-9A-HJ-NP-Za-km-z]{94})', 1), ''))
              FROM http h WHERE h.uid = s.uid AND h.evidence_id = s.evidence_id) AS url_wallet
    FROM sessions s
), coin AS (
    SELECT s.*, n.pool_dns, n.pool_sni, n.url_wallet,
           lower(coalesce(s.pool_algo, s.client_algo, '')) AS algo_text,
           coalesce(s.wallet, n.url_wallet, s.login, '') AS w,
           list_contains(s.methods, 'eth_submitLogin') OR list_contains(s.methods, 'eth_getWork')
               OR list_contains(s.methods, 'eth_submitWork') AS eth_dialect
    FROM sessions s LEFT JOIN names n ON n.uid = s.uid AND n.evidence_id = s.evidence_id
), agent_cmd AS (
    -- the agent step that named this pool (by address, or by the name DNS resolved to it)
    SELECT c.uid, c.evidence_id,
           list(DISTINCT 'trajectory ' || coalesce(a.trajectory_id, '?') || ' step ' || coalesce(a.step::VARCHAR, '?')
                || coalesce(' (' || a.technique || ')', '')) AS refs
    FROM coin c JOIN agent_actions a
         ON a.category = 'mining'
        AND (a.ip = c.resp_h OR (a.hostname IS NOT NULL AND c.pool_dns IS NOT NULL
                                 AND list_contains(string_split(c.pool_dns, ', '), a.hostname)))
    GROUP BY c.uid, c.evidence_id
), inferred AS (
    SELECT c.*,
        CASE
            WHEN regexp_full_match(w, '[48][1-9A-HJ-NP-Za-km-z]{94}([1-9A-HJ-NP-Za-km-z]{11})?') THEN 'Monero'
            WHEN regexp_matches(algo_text, '(^|,)(rx/0|randomx)(,|$)') THEN 'Monero'
            WHEN regexp_full_match(w, 't[13][1-9A-HJ-NP-Za-km-z]{33}') THEN 'Zcash'
            WHEN regexp_full_match(w, 'R[1-9A-HJ-NP-Za-km-z]{33}') OR regexp_matches(algo_text, 'kawpow') THEN 'Ravencoin'
            WHEN regexp_full_match(w, '0x[0-9a-fA-F]{40}') AND eth_dialect THEN 'Ethereum'
            WHEN regexp_matches(algo_text, '(^|,)rx/wow(,|$)') THEN 'Wownero'
            WHEN regexp_matches(algo_text, 'autolykos') THEN 'Ergo'
            WHEN regexp_full_match(w, '(bc1[02-9ac-hj-np-z]{25,87}|[13][1-9A-HJ-NP-Za-km-z]{25,34})') THEN 'Bitcoin'
            ELSE 'unknown' END AS coin,
        CASE
            WHEN regexp_full_match(w, '[48][1-9A-HJ-NP-Za-km-z]{94}([1-9A-HJ-NP-Za-km-z]{11})?')
                THEN 'wallet is a Monero address (base58, 95 or 106 characters starting with 4 or 8)'
            WHEN regexp_matches(algo_text, '(^|,)(rx/0|randomx)(,|$)') THEN 'algorithm rx/0 (RandomX) is Monero''s'
            WHEN regexp_full_match(w, 't[13][1-9A-HJ-NP-Za-km-z]{33}')
                THEN 'wallet is a Zcash transparent address (t1/t3, 35 characters)'
            WHEN regexp_full_match(w, 'R[1-9A-HJ-NP-Za-km-z]{33}') OR regexp_matches(algo_text, 'kawpow')
                THEN 'Ravencoin address or KawPoW algorithm'
            WHEN regexp_full_match(w, '0x[0-9a-fA-F]{40}') AND eth_dialect
                THEN 'Ethereum stratum dialect with a 0x address (Ethash; Ethereum Classic uses the same format)'
            WHEN regexp_matches(algo_text, '(^|,)rx/wow(,|$)') THEN 'algorithm rx/wow is Wownero''s'
            WHEN regexp_matches(algo_text, 'autolykos') THEN 'algorithm Autolykos is Ergo''s'
            WHEN regexp_full_match(w, '(bc1[02-9ac-hj-np-z]{25,87}|[13][1-9A-HJ-NP-Za-km-z]{25,34})')
                THEN 'wallet is a Bitcoin address (the payout coin; the mined algorithm may differ)'
            ELSE CASE WHEN w = '' THEN 'no login seen'
                      ELSE 'login ''' || left(coalesce(login, w), 60) || ''' is a pool account name, not a wallet address' END
                 || CASE WHEN algo_text = '' THEN ', and no algorithm was announced' ELSE ', and algorithm '
                         || algo_text || ' does not identify one coin' END
                 || coalesce(' (miner ' || agent || ')', '') END AS coin_reason
    FROM coin c
)
SELECT 'mining' AS kind,
       CASE WHEN coalesce(sh.accepted, 0) > 0 THEN 'critical' ELSE 'high' END AS severity,
       CASE WHEN i.login IS NOT NULL OR coalesce(sh.submitted, 0) > 0 THEN 0.95 ELSE 0.8 END AS confidence,
       i.ts_start, i.ts_end, i.host,
       CASE WHEN i.miner_side = 'resp' THEN i.resp_h ELSE i.orig_h END AS src_ip,
       CASE WHEN i.miner_side = 'resp' THEN i.orig_h ELSE i.resp_h END AS dst_ip,
       CASE WHEN i.miner_side = 'resp' THEN i.orig_p ELSE i.resp_p END AS dst_port,
       'mining session ' || i.orig_h || ' -> pool ' || coalesce(i.pool_dns || ' (' || i.resp_h || ')', i.pool_sni || ' (' || i.resp_h || ')', i.resp_h)
           || ':' || i.resp_p || coalesce(' on ' || i.host, '')
           || coalesce(', login ' || left(i.login, 120), ', wallet ' || i.url_wallet, '')
           || ', coin ' || i.coin
           || ', shares ' || coalesce(sh.submitted, 0) || ' submitted / ' || coalesce(sh.accepted, 0) || ' accepted / '
           || coalesce(sh.rejected, 0) || ' rejected' AS summary,
       CASE WHEN i.resp_p IN (3333, 4444, 5555, 7777, 14444, 14433, 45700, 9999) OR i.transport = 'http'
            THEN ['T1496.001'] ELSE ['T1496.001', 'T1571'] END AS attack_ids,
       [{'tbl': 'jsonrpc_msgs', 'evidence_id': i.evidence_id, 'locator': coalesce(i.login_locator, i.first_locator)},
        {'tbl': 'flows', 'evidence_id': i.evidence_id, 'locator': (SELECT min(f.locator) FROM flows f
                                                                   WHERE f.uid = i.uid AND f.evidence_id = i.evidence_id)}]
           AS evidence_refs,
       json_object('uid', i.uid, 'pool', i.resp_h || ':' || i.resp_p, 'pool_dns', i.pool_dns, 'pool_sni', i.pool_sni,
                   'transport', i.transport, 'methods', i.methods, 'login', i.login,
                   'wallet', coalesce(i.wallet, i.url_wallet),
                   'worker', i.worker, 'agent', i.agent, 'algo', coalesce(i.pool_algo, i.client_algo),
                   'client_algos', i.client_algo,
                   'coin', i.coin, 'coin_reason', i.coin_reason, 'jobs', i.jobs, 'keepalives', i.keepalives,
                   'shares_submitted', coalesce(sh.submitted, 0), 'shares_accepted', coalesce(sh.accepted, 0),
                   'shares_rejected', coalesce(sh.rejected, 0), 'shares_unanswered', coalesce(sh.unanswered, 0),
                   'rejection_reasons', sh.rejection_reasons, 'first_accepted', sh.first_accepted,
                   'last_accepted', sh.last_accepted, 'agent_commands', a.refs) AS details
FROM inferred i
LEFT JOIN shares sh ON sh.uid = i.uid AND sh.evidence_id = i.evidence_id
LEFT JOIN agent_cmd a ON a.uid = i.uid AND a.evidence_id = i.evidence_id
