-- title: Packet-capture events on the timeline
-- description: From packet captures: every SSH session (banners, which side is the client, tunnel
--   signals), TLS handshake (SNI), DNS query, HTTP request, and the JSON-RPC messages that matter to a
--   mining investigation (logins, subscriptions, share rejections). Connections without an
--   application event are left to flows.
SELECT ts, host, 'pcap' AS source, 'ssh_session' AS kind,
       orig_h || ':' || orig_p || ' -> ' || resp_h || ':' || resp_p || ' SSH ' || coalesce(client, '?') || ' -> '
           || coalesce(server, '?') || CASE WHEN role_inverted THEN ' [SSH client is the TCP responder]' ELSE '' END
           || CASE WHEN len(tunnel_signals) > 0 THEN ' [' || array_to_string(tunnel_signals, ', ') || ']' ELSE '' END
           AS summary,
       CASE WHEN role_inverted OR tunnel_score >= 0.5 THEN 'high' WHEN len(tunnel_signals) > 0 THEN 'medium'
            ELSE 'info' END AS severity,
       evidence_id, locator
FROM ssh_sessions
UNION ALL
SELECT ts, host, 'pcap', 'tls',
       orig_h || ' -> ' || resp_h || ':' || resp_p || ' TLS' || coalesce(' SNI ' || server_name, '')
           || coalesce(' ' || version, ''),
       'info', evidence_id, locator
FROM tls
UNION ALL
SELECT ts, host, 'pcap', 'dns',
       orig_h || ' asked ' || coalesce(resp_h, '?') || ' ' || coalesce(qtype_name, '?') || ' ' || coalesce(query, '?')
           || coalesce(' -> ' || nullif(array_to_string(answers[1:4], ', '), ''), '') || coalesce(' (' || rcode_name || ')', ''),
       'info', evidence_id, locator
FROM dns
UNION ALL
SELECT ts, host, 'pcap', 'http',
       orig_h || ' -> ' || resp_h || ':' || resp_p || ' ' || coalesce(method, '?') || ' http://'
           || coalesce(host_header, resp_h) || coalesce(left(uri, 200), '') || coalesce(' -> ' || status_code, ''),
       'info', evidence_id, locator
FROM http
UNION ALL
SELECT ts, host, 'pcap', 'jsonrpc',
       orig_h || ' -> ' || resp_h || ':' || resp_p || ' ' || coalesce(method, msg_kind)
           || coalesce(' login ' || left(login, 120), '') || coalesce(' agent ' || agent, '')
           || coalesce(' algo ' || algo, '') || coalesce(' error ' || coalesce(error_message, error::VARCHAR), ''),
       CASE WHEN lower(method) IN ('login', 'mining.authorize', 'eth_submitlogin') THEN 'high'
            WHEN error IS NOT NULL THEN 'medium' ELSE 'low' END,
       evidence_id, locator
FROM jsonrpc_msgs
WHERE lower(method) IN ('login', 'mining.subscribe', 'mining.authorize', 'eth_submitlogin', 'getblocktemplate')
   OR (msg_kind = 'response' AND error IS NOT NULL AND error::VARCHAR <> 'null')
