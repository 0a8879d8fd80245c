-- title: Suspicious egress: cluster hosts reaching outside on SSH, on miner ports, or for long
-- description: Outbound firewall and flow-log records (net_events, direction outbound, not denied)
--   from hosts that are not monitoring hosts, grouped into sessions (same source, source port,
--   destination, port and protocol, per log source: per-window counters are never summed across
--   sources). A session is reported when it goes to SSH (22, 2222, or labelled SSH), to a known
--   mining-pool port, or lasts at least long_s. SSH that is long-lived is high severity (a
--   reverse tunnel stays up for hours), short SSH low (a git clone); packet logs (netfilter) show
--   only the SYNs of an attempt, which is medium.
-- param miner_ports: '3333,3334,3335,3336,4444,5555,6666,7777,8888,9999,14433,14444,20535,20580,45560,45700'  -- pool ports
-- param ssh_ports: '22,2222'  -- ports that mean SSH
-- param long_s: 3600  -- a session this long (seconds) is reported whatever its port
-- param exclude_roles: 'monitoring'  -- inventory roles (comma separated) whose egress is expected
-- param max_refs: 200  -- evidence references kept per finding
-- attack: T1572, T1496.001, T1571

WITH params AS (
    SELECT list_transform(string_split($miner_ports, ','), lambda x: TRY_CAST(trim(x) AS INTEGER)) AS miner,
           list_transform(string_split($ssh_ports, ','), lambda x: TRY_CAST(trim(x) AS INTEGER)) AS ssh,
           list_transform(string_split($exclude_roles, ','), lambda x: trim(x)) AS roles
),
records AS (
    SELECT n.*, coalesce(n.src_private_ip, n.src_ip) AS src, r.role
    FROM net_events n LEFT JOIN host_roles r ON r.host = n.host
    WHERE n.direction = 'outbound' AND n.action IS DISTINCT FROM 'deny' AND n.dst_ip IS NOT NULL
      AND n.ts IS NOT NULL
),
sessions AS (
    SELECT host, src, src_port, dst_ip, dst_port, proto, source_format,
           any_value(role) AS role,
           min(ts) AS ts_start, max(coalesce(ts_end, ts)) AS ts_end,
           count(*) AS records,
           sum(bytes_out) AS bytes_out, sum(bytes_in) AS bytes_in,
           sum(packets_out) AS packets_out, sum(packets_in) AS packets_in,
           bool_or(action = 'alert') AS alerted,
           list(DISTINCT label) FILTER (WHERE label IS NOT NULL) AS labels,
           bool_or(upper(coalesce(json_extract_string(extra, '$.app_name'), '')) = 'SSH') AS ssh_app,
           list({'tbl': 'net_events', 'evidence_id': evidence_id, 'locator': locator} ORDER BY ts, locator) AS refs
    FROM records
    GROUP BY host, src, src_port, dst_ip, dst_port, proto, source_format
),
flagged AS (
    SELECT s.*,
           epoch(s.ts_end) - epoch(s.ts_start) AS duration_s,
           list_contains(p.ssh, s.dst_port) OR s.ssh_app AS is_ssh,
           list_contains(p.miner, s.dst_port) AS is_miner_port,
           s.source_format IN ('netfilter', 'journald', 'ulogd', 'pfsense_filterlog') AS packet_log
    FROM sessions s, params p
    WHERE NOT list_contains(p.roles, coalesce(s.role, ''))
)
SELECT 'egress' AS kind,
       CASE WHEN is_miner_port THEN 'Egress to a mining-pool port from ' || coalesce(host, src)
            WHEN is_ssh THEN 'Outbound SSH from ' || coalesce(host, src)
            ELSE 'Long-lived outbound connection from ' || coalesce(host, src) END AS title,
       CASE WHEN is_miner_port THEN 'high'
            WHEN is_ssh AND packet_log THEN 'medium'
            WHEN is_ssh AND duration_s >= 600 THEN 'high'
            WHEN is_ssh THEN 'low'
            ELSE 'medium' END AS severity,
       CASE WHEN is_miner_port OR (is_ssh AND duration_s >= 600) THEN 0.8 ELSE 0.5 END AS confidence,
       ts_start, ts_end, host, src AS src_ip, dst_ip, dst_port,
       coalesce(host, src) || ' (' || src || coalesce(':' || src_port, '') || ') -> ' || dst_ip || ':'
           || coalesce(dst_port::VARCHAR, '?') || '/' || coalesce(proto, '?')
           || CASE WHEN is_miner_port THEN ', a known mining-pool port'
                   WHEN is_ssh THEN ', SSH' ELSE '' END
           || ', ' || CASE WHEN packet_log AND records = 1 THEN 'one logged packet'
                           WHEN packet_log THEN records || ' logged packets over ' || round(duration_s)::BIGINT || ' s'
                           ELSE 'open ' || round(duration_s)::BIGINT || ' s over ' || records || ' record(s)' END
           || coalesce(', ' || bytes_out || ' bytes out', '') || coalesce(', ' || bytes_in || ' bytes in', '')
           || CASE WHEN alerted THEN ', alerted by the firewall' ELSE '' END
           || CASE WHEN len(coalesce(labels, [])) > 0 THEN ' (' || array_to_string(labels, '; ') || ')' ELSE '' END
           || ' [' || source_format || ']' AS summary,
       CASE WHEN is_miner_port THEN ['T1496.001', 'T1571']
            WHEN is_ssh THEN ['T1572']
            ELSE ['T1571'] END AS attack_ids,
       refs[1:$max_refs]::STRUCT(tbl VARCHAR, evidence_id INTEGER, locator VARCHAR)[] AS evidence_refs,
       json_object('source_format', source_format, 'src_port', src_port, 'proto', proto,
                   'duration_s', duration_s, 'records', records, 'bytes_out', bytes_out, 'bytes_in', bytes_in,
                   'packets_out', packets_out, 'packets_in', packets_in, 'ssh', is_ssh,
                   'miner_port', is_miner_port, 'long_lived', duration_s >= $long_s, 'alerted', alerted,
                   'labels', labels, 'host_role', role) AS details
FROM flagged
WHERE is_ssh OR is_miner_port OR duration_s >= $long_s
ORDER BY ts_start, host, dst_ip
