-- title: Timesketch events
-- description: The unified timeline in Timesketch's import shape: message, datetime (ISO 8601 UTC),
--   timestamp (microseconds since the epoch) and timestamp_desc, plus our fields: host, source,
--   kind, severity, data_type and the evidence file, SHA-256 and locator of each event. Events
--   without a time cannot be placed on a Timesketch timeline and are left out (and counted).
SELECT
    coalesce(nullif(t.summary, ''), t.kind, t.source, 'event') AS message,
    strftime(t.ts, '%Y-%m-%dT%H:%M:%S.%f') || '+00:00' AS datetime,
    epoch_us(t.ts) AS timestamp,
    CASE
        WHEN t.source = 'finding' THEN 'Finding start'
        WHEN t.source LIKE 'agent%' THEN 'Agent step start'
        WHEN t.source IN ('firewall', 'flow', 'flows', 'net', 'net_events', 'network', 'pcap') THEN 'Connection start'
        WHEN t.source LIKE 'gpu%' THEN 'Sample time'
        WHEN t.source LIKE 'process%' OR t.source IN ('host', 'auditd', 'falco') THEN 'Process event time'
        ELSE 'Event time'
    END AS timestamp_desc,
    'cluster_forensics:' || coalesce(t.source, 'event') || coalesce(':' || t.kind, '') AS data_type,
    t.host, t.source, t.kind, t.severity, t.evidence_id, t.locator,
    e.path || coalesce('!' || e.member, '') AS evidence_file, e.sha256 AS evidence_sha256
FROM timeline t LEFT JOIN evidence e USING (evidence_id)
WHERE t.ts IS NOT NULL
ORDER BY t.ts, t.source, t.evidence_id, t.locator, t.kind, message
