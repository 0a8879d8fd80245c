-- title: Agent step -> application records: HTTP requests, TLS handshakes, SSH sessions, stratum logins
-- description: Records of the capture's application layer that carry what the step named. HTTP:
--   the request's URL equals a URL of the command (or its Host header or address is one the step
--   names). TLS: the server name or address is the step's. SSH: a session to an address and port
--   the step names (ssh user@host -p port). Stratum/JSON-RPC: a login whose wallet equals the
--   command's wallet, or to the pool address and port it names. Each from one of the step's places
--   (sandbox address, or its host's address after source NAT), within link_window_s after the step.
-- param link_window_s: 120  -- how long after a step ends its effects may start, in seconds
-- param clock_tolerance_s: 2  -- how early an effect may look, in seconds
WITH addr AS (
    SELECT evidence_id, locator, ip, ip_lo, ip_hi, port, value, via FROM link_step_targets WHERE target_kind = 'address'
), urls AS (
    SELECT evidence_id, locator, lower(value) AS url FROM link_step_targets WHERE target_kind = 'url'
), names AS (
    SELECT DISTINCT evidence_id, locator, hostname FROM link_step_targets WHERE hostname IS NOT NULL
), wallets AS (
    SELECT evidence_id, locator, value AS wallet FROM link_step_targets WHERE target_kind = 'wallet'
), http_hits AS (
    SELECT 'http' AS tbl, 'http_request' AS effect_kind, h.ts, h.host, h.orig_h, h.resp_h, h.resp_p, h.evidence_id,
           h.locator, u.evidence_id AS s_eid, u.locator AS s_loc,
           format('request {} {}{} equals the URL in the command', h.method, h.host_header, h.uri) AS indicator,
           format('{} http://{}{} -> {} ({})', h.method, h.host_header, h.uri, coalesce(h.status_code::VARCHAR, 'no reply'),
                  coalesce(h.user_agent, 'no user agent')) AS what, 0 AS strength
    FROM http h JOIN urls u ON u.url IN (lower('http://' || h.host_header || h.uri),
                                         lower('http://' || h.host_header || ':' || h.resp_p || h.uri))
    UNION ALL
    SELECT 'http', 'http_request', h.ts, h.host, h.orig_h, h.resp_h, h.resp_p, h.evidence_id, h.locator,
           n.evidence_id, n.locator, format('Host header {} named in the command', h.host_header),
           format('{} http://{}{} -> {}', h.method, h.host_header, h.uri, coalesce(h.status_code::VARCHAR, 'no reply')), 1
    FROM http h JOIN names n ON n.hostname = lower(split_part(h.host_header, ':', 1))
), tls_hits AS (
    SELECT 'tls' AS tbl, 'tls_handshake' AS effect_kind, t.ts, t.host, t.orig_h, t.resp_h, t.resp_p, t.evidence_id,
           t.locator, n.evidence_id AS s_eid, n.locator AS s_loc,
           format('server name {} named in the command', t.server_name) AS indicator,
           format('TLS {} to {}:{} (SNI {})', coalesce(t.version, ''), t.resp_h, t.resp_p, t.server_name) AS what,
           0 AS strength
    FROM tls t JOIN names n ON n.hostname = lower(t.server_name)
    UNION ALL
    SELECT 'tls', 'tls_handshake', t.ts, t.host, t.orig_h, t.resp_h, t.resp_p, t.evidence_id, t.locator,
           a.evidence_id, a.locator, format('address {}:{} named in the command', t.resp_h, t.resp_p),
           format('TLS {} to {}:{} (SNI {})', coalesce(t.version, ''), t.resp_h, t.resp_p, coalesce(t.server_name, 'none')), 1
    FROM tls t JOIN addr a ON ipv4_to_int(t.resp_h) BETWEEN a.ip_lo AND a.ip_hi AND (a.port IS NULL OR a.port = t.resp_p)
), ssh_hits AS (
    SELECT 'ssh_sessions' AS tbl, 'ssh_session' AS effect_kind, x.ts, x.host, x.orig_h, x.resp_h, x.resp_p,
           x.evidence_id, x.locator, a.evidence_id AS s_eid, a.locator AS s_loc,
           format('SSH to {}:{}, the destination in the command', x.resp_h, x.resp_p) AS indicator,
           format('SSH session {}:{} -> {}:{}, client {}, server {}, {:.0f} s in the capture', x.orig_h, x.orig_p,
                  x.resp_h, x.resp_p, coalesce(x.client, '?'), coalesce(x.server, '?'), coalesce(x.duration, 0)) AS what,
           0 AS strength
    FROM ssh_sessions x JOIN addr a ON ipv4_to_int(x.resp_h) BETWEEN a.ip_lo AND a.ip_hi
        AND coalesce(a.port, 22) = x.resp_p
), stratum_hits AS (
    SELECT 'jsonrpc_msgs' AS tbl, 'stratum_login' AS effect_kind, m.ts, m.host, m.orig_h, m.resp_h, m.resp_p,
           m.evidence_id, m.locator, w.evidence_id AS s_eid, w.locator AS s_loc,
           format('login wallet {} equals the command''s', m.wallet) AS indicator,
           format('{} as {} to {}:{}{}', m.method, m.login, m.resp_h, m.resp_p,
                  CASE WHEN m.agent IS NOT NULL THEN ' (' || m.agent || ')' ELSE '' END) AS what, 0 AS strength
    FROM jsonrpc_msgs m JOIN wallets w ON w.wallet = m.wallet
    WHERE m.login IS NOT NULL
    UNION ALL
    SELECT 'jsonrpc_msgs', 'stratum_login', m.ts, m.host, m.orig_h, m.resp_h, m.resp_p, m.evidence_id, m.locator,
           a.evidence_id, a.locator, format('pool {}:{} named in the command ({})', m.resp_h, m.resp_p, a.via),
           format('{} as {} to {}:{}', m.method, m.login, m.resp_h, m.resp_p), 1
    FROM jsonrpc_msgs m JOIN addr a ON ipv4_to_int(m.resp_h) BETWEEN a.ip_lo AND a.ip_hi AND a.port = m.resp_p
    WHERE m.login IS NOT NULL
), hits AS (
    SELECT * FROM http_hits UNION ALL SELECT * FROM tls_hits UNION ALL SELECT * FROM ssh_hits
    UNION ALL SELECT * FROM stratum_hits
), timed AS (
    SELECT h.*, clock_correct(h.ts, o.offset_s) AS ts_c, o.offset_s
    FROM hits h
    LEFT JOIN host_clock_evidence hc ON hc.evidence_id = h.evidence_id
    LEFT JOIN host_clock_offsets o ON hc.evidence_id IS NOT NULL AND o.host = h.host
), placed AS (
    SELECT t.*, s.ts AS s_ts, s.sandbox AS s_sandbox, p.ip AS place_ip, p.host AS place_host,
           CASE p.place WHEN 'sandbox' THEN 0 WHEN 'host' THEN 1 ELSE 2 END AS place_rank
    FROM timed t
    JOIN link_steps s ON s.evidence_id = t.s_eid AND s.locator = t.s_loc
    JOIN link_step_places p ON p.evidence_id = s.evidence_id AND p.locator = s.locator AND p.ip = t.orig_h
    WHERE t.ts_c BETWEEN s.ts - to_seconds($clock_tolerance_s) AND s.ts_end + to_seconds($link_window_s)
), per_record AS (
    -- every indicator a record shows, strongest first; its best place
    SELECT s_eid, s_loc, tbl, evidence_id, locator, effect_kind, any_value(ts) AS ts, any_value(ts_c) AS ts_c,
           any_value(host) AS host, any_value(offset_s) AS offset_s, any_value(what) AS what,
           any_value(s_ts) AS s_ts, any_value(s_sandbox) AS s_sandbox,
           list(DISTINCT indicator ORDER BY indicator) AS indicators, min(place_rank) AS place_rank,
           arg_min(place_ip, place_rank) AS place_ip, arg_min(place_host, place_rank) AS place_host
    FROM placed GROUP BY s_eid, s_loc, tbl, evidence_id, locator, effect_kind
), grouped AS (
    SELECT s_eid, s_loc, tbl, evidence_id, effect_kind, any_value(s_ts) AS s_ts, any_value(s_sandbox) AS s_sandbox,
           count(*) AS n, min(ts_c) AS first_c, max(ts_c) AS last_c, arg_min(ts, ts_c) AS first_ts,
           arg_min(locator, ts_c) AS first_locator, arg_min(host, ts_c) AS first_host,
           arg_min(offset_s, ts_c) AS first_offset, arg_min(what, ts_c) AS first_what,
           list_sort(list_distinct(flatten(list(indicators)))) AS indicators, min(place_rank) AS place_rank,
           arg_min(place_ip, place_rank) AS place_ip, arg_min(place_host, place_rank) AS place_host,
           list({'tbl': tbl, 'evidence_id': evidence_id, 'locator': locator, 'ts': ts_c} ORDER BY ts_c, locator) AS member_refs
    FROM per_record GROUP BY s_eid, s_loc, tbl, evidence_id, effect_kind
)
SELECT s_eid AS cause_evidence_id, s_loc AS cause_locator, effect_kind, tbl AS effect_tbl,
       evidence_id AS effect_evidence_id, first_locator AS effect_locator, NULL AS finding_id, first_ts AS effect_ts,
       first_c AS effect_ts_corrected, last_c AS effect_ts_end, first_host AS effect_host, n AS effect_count,
       first_what || CASE WHEN n > 1 THEN format(' (and {} more)', n - 1) ELSE '' END AS effect_summary,
       round(epoch(first_c) - epoch(s_ts), 3) AS delta_s, $clock_tolerance_s::DOUBLE AS tolerance_s,
       'indicator' AS basis, array_to_string(indicators, '; ') AS basis_indicator,
       CASE place_rank WHEN 0 THEN format('from {}, the address of sandbox {} at the time', place_ip, s_sandbox)
                       ELSE format('from {}, the address of {} where sandbox {} runs (source NAT)', place_ip, place_host,
                                   coalesce(s_sandbox, '?')) END AS basis_place,
       format('{:.3f} s after the step{}', epoch(first_c) - epoch(s_ts),
              CASE WHEN coalesce(first_offset, 0) <> 0
                   THEN format(' (stamp corrected by {:+.3f} s for the clock of {})', -first_offset, first_host)
                   ELSE '' END) AS basis_time,
       false AS weak, CASE WHEN place_rank = 0 THEN 0.97 ELSE 0.93 END AS confidence,
       to_json({'first': first_what, 'indicators': indicators}) AS details,
       member_refs
FROM grouped
