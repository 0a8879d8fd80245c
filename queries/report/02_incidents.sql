-- title: Incidents
-- description: Each incident: agent steps and the effects the link queries tied to them, chained, with
--   the hosts, trajectories and runs involved, the clock-corrected time span and the number of links
--   and findings behind it.
-- layout: record
-- heading: severity, title
-- empty: omit
SELECT incident_id, severity, title, first_ts, last_ts, hosts, trajectories, runs, n_links, n_findings, summary
FROM incidents
ORDER BY incident_id
