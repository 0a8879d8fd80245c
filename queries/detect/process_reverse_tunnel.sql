-- title: Reverse tunnel or port forward opened by a process
-- description: An ssh launch with a remote forward (-R, also combined as -fNR, or -o RemoteForward),
--   a local or dynamic forward (-L, -D) or a tun device (-w), or a tunnelling tool (autossh, ngrok,
--   frpc, chisel, cloudflared, bore, gost, socat listening and connecting), as the host saw it
--   launched, with the address it connected to. Reverse forwards from a sandbox are critical:
--   they let someone outside reach into the cluster.
-- attack: T1572, T1021.004
WITH p AS (
    SELECT *, lower(regexp_extract(coalesce(exe, argv[1], ''), '[^/]*$')) AS exe_name,
           lower(regexp_extract(coalesce(argv[1], ''), '[^/]*$')) AS argv0_name
    FROM process_tree WHERE argv IS NOT NULL
), t AS (
    SELECT *,
           CASE WHEN exe_name IN ('ssh', 'autossh', 'dbclient') OR argv0_name IN ('ssh', 'autossh') THEN
                CASE WHEN list_bool_or(list_transform(argv[2:], lambda a: regexp_matches(a, '^-[46AaCfGgKkMNnqsTtVvXxYy]*R')))
                          OR regexp_matches(cmdline, '(?i)RemoteForward') THEN 'ssh remote forward'
                     WHEN list_bool_or(list_transform(argv[2:], lambda a: regexp_matches(a, '^-[46AaCfGgKkMNnqsTtVvXxYy]*D')))
                          OR regexp_matches(cmdline, '(?i)DynamicForward') THEN 'ssh dynamic forward (SOCKS)'
                     WHEN list_bool_or(list_transform(argv[2:], lambda a: regexp_matches(a, '^-[46AaCfGgKkMNnqsTtVvXxYy]*L')))
                          OR regexp_matches(cmdline, '(?i)LocalForward') THEN 'ssh local forward'
                     WHEN list_bool_or(list_transform(argv[2:], lambda a: regexp_matches(a, '^-[46AaCfGgKkMNnqsTtVvXxYy]*w')))
                          OR regexp_matches(cmdline, '(?i)Tunnel=') THEN 'ssh tun device'
                END
                WHEN exe_name IN ('ngrok', 'frpc', 'chisel', 'cloudflared', 'bore', 'gost', 'rathole', 'pinggy',
                                  'ligolo', 'ligolo-ng', 'sshuttle', 'iodine', 'dns2tcp')
                     OR argv0_name IN ('ngrok', 'frpc', 'chisel', 'cloudflared', 'bore', 'gost', 'rathole')
                    THEN 'tunnelling tool ' || exe_name
                WHEN exe_name = 'socat' AND regexp_matches(cmdline, '(?i)tcp[46]?(-listen)?:') AND
                     regexp_matches(cmdline, '(?i)(exec|system):') THEN 'socat relay to a program'
           END AS technique,
           regexp_extract(cmdline, '(?:^|\s)-[46AaCfGgKkMNnqsTtVvXxYy]*[RLD]\s*(\S+)', 1) AS forward_spec
    FROM p
), hits AS (
    SELECT * FROM t WHERE technique IS NOT NULL
), conn AS (
    SELECT c.proc_id, arg_min(c.remote_ip, c.ts) AS dst_ip, arg_min(c.remote_port, c.ts) AS dst_port,
           arg_min(c.result, c.ts) AS result,
           arg_min({'tbl': 'process_sockets', 'evidence_id': c.evidence_id, 'locator': c.locator}, c.ts) AS ref
    FROM process_connections c
    WHERE c.remote_ip IS NOT NULL AND coalesce(c.remote_port, 0) <> 53 AND NOT ip_is_private(c.remote_ip)
      AND NOT ip_is_internal(c.remote_ip) AND c.launch_basis IN ('pid', 'exec id')
    GROUP BY c.proc_id
)
SELECT 'tunnel' AS kind,
       'Reverse tunnel or port forward opened by a process' AS title,
       CASE WHEN h.technique = 'ssh remote forward' AND h.sandbox IS NOT NULL THEN 'critical'
            WHEN h.technique = 'ssh remote forward' OR h.sandbox IS NOT NULL THEN 'high' ELSE 'medium' END AS severity,
       CASE WHEN conn.dst_ip IS NOT NULL THEN 0.95 ELSE 0.85 END AS confidence,
       h.ts AS ts_start, coalesce(h.ts_end, h.ts) AS ts_end, h.host, NULL AS src_ip, conn.dst_ip, conn.dst_port,
       h.host || ' pid ' || h.pid || coalesce(' (sandbox ' || h.sandbox || ')', '') || ': ' || h.technique
           || coalesce(' ' || nullif(h.forward_spec, ''), '') || ' - ' || left(h.cmdline, 300)
           || coalesce('; connected to ' || conn.dst_ip || ':' || conn.dst_port, '') AS summary,
       ['T1572', 'T1021.004'] AS attack_ids,
       CASE WHEN conn.ref IS NULL THEN [{'tbl': 'processes', 'evidence_id': h.evidence_id, 'locator': h.locator}]
            ELSE [{'tbl': 'processes', 'evidence_id': h.evidence_id, 'locator': h.locator}, conn.ref] END AS evidence_refs,
       json_object('pid', h.pid, 'ppid', h.ppid, 'exe', h.exe, 'argv', h.argv, 'technique', h.technique,
                   'forward', nullif(h.forward_spec, ''), 'sandbox', h.sandbox, 'container_id', h.container_id,
                   'connect_result', conn.result, 'proc_id', h.proc_id, 'source', h.source_format) AS details
FROM hits h LEFT JOIN conn USING (proc_id)
