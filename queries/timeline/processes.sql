-- title: Host processes, their connects and Falco alerts on the timeline
-- description: Every launch (pid, program, arguments, sandbox), every connect/bind/accept with its
--   outcome, and every Falco alert, at the host's own clock.
SELECT ts, host, 'host' AS source, 'process_start' AS kind,
       'pid ' || coalesce(pid::VARCHAR, '?') || coalesce(' (ppid ' || ppid || ')', '') || ' '
           || coalesce(left(cmdline, 240), exe, '?') || coalesce(' [' || sandbox || ']', '') AS summary,
       CASE WHEN success = false THEN 'low' ELSE 'info' END AS severity, evidence_id, locator
FROM processes WHERE ts IS NOT NULL
UNION ALL
SELECT ts, host, 'host' AS source, syscall AS kind,
       coalesce(regexp_extract(exe, '[^/]*$'), comm, '?') || ' pid ' || coalesce(pid::VARCHAR, '?') || ' '
           || CASE WHEN syscall = 'bind' THEN 'bound ' || coalesce(local_ip || ':' || local_port, socket_path, '?')
                   ELSE '-> ' || coalesce(CASE WHEN family = 'inet6' THEN '[' || remote_ip || ']' ELSE remote_ip END
                                           || ':' || remote_port, socket_path, '?') END
           || coalesce(' ' || result, '') AS summary,
       CASE WHEN remote_ip IS NOT NULL AND NOT ip_is_private(remote_ip) AND NOT ip_is_internal(remote_ip)
                 AND coalesce(remote_port, 0) <> 53 THEN 'low' ELSE 'info' END AS severity,
       evidence_id, locator
FROM process_sockets WHERE ts IS NOT NULL
UNION ALL
SELECT ts, host, 'falco' AS source, 'falco_alert' AS kind,
       rule || coalesce(' pid ' || pid, '') || coalesce(': ' || left(cmdline, 200), '') AS summary,
       severity, evidence_id, locator
FROM falco_alerts WHERE ts IS NOT NULL
