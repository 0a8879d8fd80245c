-- title: Incident answer: detection latency
-- description: From the incident's first agent action to the first firewall alert on its traffic
--   (a net_events record with action alert among the incident's effect rows: the cloud firewall's
--   IPS or alert-mode rule; a record is written when its window ends, so its end time counts),
--   with the alert's rule, label and the connection's start; and to the first detection by any
--   sensor (the earliest linked finding that is not about an agent step itself, such as a Falco
--   alert). Times are clock-corrected. No firewall alert in evidence gives a null latency and says so.
-- answer: detection_latency
-- shape: one
WITH inc AS (
    SELECT DISTINCT incident_id, trajectory_id FROM links WHERE incident_id IS NOT NULL
), first_action AS (
    SELECT i.incident_id, min(s.ts) AS ts FROM link_steps s JOIN inc i USING (trajectory_id) GROUP BY ALL
), alerts AS (
    SELECT l.incident_id, coalesce(n.ts_end_corrected, n.ts_corrected) AS ts_corrected, n.ts_corrected AS session_start, n.rule, n.label, n.source_format, n.dst_ip, n.dst_port, n.src_ip,
           n.src_private_ip, n.src_port, n.evidence_id, n.locator, l.trajectory_id, l.step
    FROM links l JOIN link_rows lr USING (link_id)
    JOIN net_events_corrected n ON lr.tbl = 'net_events' AND n.evidence_id = lr.evidence_id AND n.locator = lr.locator
    WHERE l.incident_id IS NOT NULL AND n.action = 'alert'
    QUALIFY row_number() OVER (PARTITION BY l.incident_id ORDER BY coalesce(n.ts_end_corrected, n.ts_corrected),
                                                             n.evidence_id, n.locator) = 1
), detections AS (
    SELECT l.incident_id, l.effect_ts_corrected AS ts, f.kind, f.detector, f.summary, f.finding_id
    FROM links l JOIN findings f ON f.finding_id = l.finding_id
    WHERE l.incident_id IS NOT NULL AND l.effect_kind = 'finding'
    QUALIFY row_number() OVER (PARTITION BY l.incident_id ORDER BY l.effect_ts_corrected, f.finding_id) = 1
), firewall_evidence AS (
    SELECT count(*) AS n FROM net_events n ANTI JOIN host_clock_evidence h ON h.evidence_id = n.evidence_id
)
SELECT fa.incident_id,
       {'first_agent_action': fa.ts,
        'first_firewall_alert': CASE WHEN a.incident_id IS NOT NULL THEN
            {'ts': a.ts_corrected, 'connection_start': a.session_start, 'rule': a.rule, 'label': a.label,
             'source': a.source_format,
             'connection': format('{}{}:{} -> {}:{}', a.src_ip, coalesce(' (' || a.src_private_ip || ')', ''), a.src_port,
                                  a.dst_ip, a.dst_port),
             'caused_by': {'trajectory_id': a.trajectory_id, 'step': a.step},
             'evidence': {'tbl': 'net_events', 'evidence_id': a.evidence_id, 'locator': a.locator}} END,
        'latency_s': round(epoch(a.ts_corrected) - epoch(fa.ts), 3),
        'note': CASE WHEN a.incident_id IS NOT NULL THEN NULL
                     WHEN (SELECT n FROM firewall_evidence) = 0 THEN 'no firewall or flow-log records with an independent clock in evidence'
                     ELSE 'no firewall alert on this incident''s traffic in evidence' END,
        'first_detection': CASE WHEN d.incident_id IS NOT NULL THEN
            {'ts': d.ts, 'kind': d.kind, 'detector': d.detector, 'summary': left(d.summary, 200), 'finding_id': d.finding_id} END,
        'first_detection_latency_s': round(epoch(d.ts) - epoch(fa.ts), 3)} AS answer
FROM first_action fa
LEFT JOIN alerts a USING (incident_id)
LEFT JOIN detections d USING (incident_id)
ORDER BY fa.incident_id
