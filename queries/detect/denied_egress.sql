-- title: Denied egress: a firewall stopped a cluster host from reaching outside
-- description: Outbound net_events records with action deny (cloud firewall drop, netfilter
--   DROP/REJECT, flow-log REJECT), grouped per host, source, destination, port, protocol and log
--   source within a window. A blocked attempt after an earlier success to the same place is the
--   second try of an incident; the summary names the rule that stopped it.
-- param window_s: 3600  -- records of the same attempt within this many seconds form one finding
-- param exclude_roles: 'monitoring'  -- inventory roles (comma separated) not reported
-- param ssh_ports: '22,2222'  -- ports that mean SSH
-- param miner_ports: '3333,3334,3335,3336,4444,5555,6666,7777,8888,9999,14433,14444,20535,20580,45560,45700'  -- pool ports
-- param max_refs: 200  -- evidence references kept per finding
-- attack: T1572, T1571

WITH params AS (
    SELECT list_transform(string_split($miner_ports, ','), lambda x: TRY_CAST(trim(x) AS INTEGER)) AS miner,
           list_transform(string_split($ssh_ports, ','), lambda x: TRY_CAST(trim(x) AS INTEGER)) AS ssh,
           list_transform(string_split($exclude_roles, ','), lambda x: trim(x)) AS roles
),
denied AS (
    SELECT n.*, coalesce(n.src_private_ip, n.src_ip) AS src, r.role,
           time_bucket(to_seconds($window_s), n.ts) AS window_start
    FROM net_events n LEFT JOIN host_roles r ON r.host = n.host
    WHERE n.direction = 'outbound' AND n.action = 'deny' AND n.ts IS NOT NULL
),
grouped AS (
    SELECT host, src, dst_ip, dst_port, proto, source_format, window_start,
           any_value(role) AS role,
           min(ts) AS ts_start, max(coalesce(ts_end, ts)) AS ts_end, count(*) AS records,
           sum(coalesce(packets_out, 1)) AS packets, sum(bytes_out) AS bytes_out,
           list(DISTINCT rule ORDER BY rule) FILTER (WHERE rule IS NOT NULL) AS rules,
           list(DISTINCT src_port ORDER BY src_port) FILTER (WHERE src_port IS NOT NULL) AS src_ports,
           list({'tbl': 'net_events', 'evidence_id': evidence_id, 'locator': locator} ORDER BY ts, locator) AS refs
    FROM denied GROUP BY ALL
)
SELECT 'denied_egress' AS kind,
       'Denied egress from ' || coalesce(host, src) || ' to ' || dst_ip || coalesce(':' || dst_port, '') AS title,
       CASE WHEN list_contains(p.ssh, dst_port) OR list_contains(p.miner, dst_port) THEN 'high' ELSE 'medium' END
           AS severity,
       0.9 AS confidence,
       ts_start, ts_end, host, src AS src_ip, dst_ip, dst_port,
       coalesce(host, src) || ' (' || src || ') was denied ' || records || ' time(s) ('
           || packets || ' packet(s)) reaching ' || dst_ip || ':' || coalesce(dst_port::VARCHAR, '?')
           || '/' || coalesce(proto, '?')
           || CASE WHEN len(coalesce(rules, [])) > 0 THEN ' by rule ' || array_to_string(rules, ', ') ELSE '' END
           || CASE WHEN len(coalesce(src_ports, [])) > 0
                   THEN ' from port(s) ' || array_to_string(src_ports[1:10], ', ') ELSE '' END
           || ' [' || source_format || ']' AS summary,
       CASE WHEN list_contains(p.ssh, dst_port) THEN ['T1572']
            WHEN list_contains(p.miner, dst_port) THEN ['T1496.001', 'T1571']
            ELSE []::VARCHAR[] END AS attack_ids,
       refs[1:$max_refs]::STRUCT(tbl VARCHAR, evidence_id INTEGER, locator VARCHAR)[] AS evidence_refs,
       json_object('source_format', source_format, 'records', records, 'packets', packets,
                   'bytes_out', bytes_out, 'rules', rules, 'src_ports', src_ports, 'proto', proto,
                   'host_role', role) AS details
FROM grouped g, params p
WHERE NOT list_contains(p.roles, coalesce(g.role, ''))
ORDER BY ts_start, host, dst_ip
