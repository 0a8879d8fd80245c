-- title: Case overview
-- description: What was examined and what came of it: evidence files by status, records loaded,
--   parse warnings, findings, and the time span the timeline covers (UTC).
-- layout: record
WITH span AS (
    SELECT count(DISTINCT host) AS hosts, min(ts) AS first_event, max(ts) AS last_event FROM timeline
)
SELECT
    (SELECT count(*) FROM evidence WHERE status <> 'archive') AS evidence_files,
    (SELECT count(*) FROM evidence WHERE status = 'parsed') AS parsed_files,
    (SELECT count(*) FROM evidence WHERE status = 'unclaimed') AS unclaimed_files,
    (SELECT count(*) FROM evidence WHERE status = 'failed') AS failed_files,
    (SELECT count(*) FROM evidence WHERE status = 'archive') AS archives,
    (SELECT coalesce(sum(size), 0) FROM evidence WHERE parent_id IS NULL) AS bytes_on_disk,
    (SELECT coalesce(sum(n_records), 0) FROM evidence) AS records_loaded,
    (SELECT count(*) FROM parse_warnings) AS parse_warnings,
    (SELECT count(*) FROM findings) AS findings,
    (SELECT count(*) FROM findings WHERE severity IN ('high', 'critical')) AS high_or_critical_findings,
    span.hosts AS hosts_on_timeline,
    span.first_event,
    span.last_event
FROM span
