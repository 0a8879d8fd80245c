-- title: Firewall and flow-log records on the timeline
-- description: One timeline event per net_events row: who talked to whom, what the firewall did,
--   and under which rule or label.
SELECT ts, host, source_format AS source,
       coalesce(action, 'log') || CASE WHEN direction IS NOT NULL THEN '_' || direction ELSE '' END AS kind,
       coalesce(proto, '?') || ' ' || coalesce(src_ip, '?') || coalesce(':' || src_port, '') || ' -> '
           || coalesce(dst_ip, '?') || coalesce(':' || dst_port, '')
           || coalesce(' ' || tcp_flags, '') || coalesce(' ' || upper(action), '')
           || coalesce(' [' || rule || ']', '') || coalesce(' "' || label || '"', '')
           || coalesce(' ' || bytes_out || 'B out', '') || coalesce(' ' || bytes_in || 'B in', '') AS summary,
       CASE WHEN action = 'alert' THEN 'medium' WHEN action = 'deny' THEN 'low' ELSE 'info' END AS severity,
       evidence_id, locator
FROM net_events
