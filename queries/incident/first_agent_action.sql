-- title: Incident answer: the first agent action
-- description: Per incident, the earliest step with indicators of its trajectories (reconnaissance
--   counts: it is the first step outside the task), with run, trajectory, step, time and command;
--   and the first step whose effect reached the network, with that effect's first record.
-- answer: first_agent_action
-- shape: one
WITH traj AS (
    SELECT DISTINCT incident_id, trajectory_id FROM links WHERE incident_id IS NOT NULL
), first_step AS (
    SELECT t.incident_id, s.*
    FROM link_steps s JOIN traj t ON t.trajectory_id = s.trajectory_id
    QUALIFY row_number() OVER (PARTITION BY t.incident_id ORDER BY s.ts, s.trajectory_id, s.step, s.call_index) = 1
), first_network AS (
    SELECT incident_id, run_id, trajectory_id, step, cause_ts, command, effect_kind, effect_ts_corrected,
           effect_summary, effect_tbl, effect_evidence_id, effect_locator
    FROM links
    WHERE incident_id IS NOT NULL
      AND effect_kind IN ('probe', 'connection', 'blocked_connection', 'firewall_alert', 'dns_query', 'http_request',
                          'tls_handshake', 'ssh_session', 'stratum_login')
    QUALIFY row_number() OVER (PARTITION BY incident_id ORDER BY cause_ts, effect_ts_corrected, link_id) = 1
)
SELECT f.incident_id,
       {'run_id': f.run_id, 'trajectory_id': f.trajectory_id, 'step': f.step, 'ts': f.ts, 'command': f.command,
        'categories': f.categories, 'host': f.host, 'sandbox': f.sandbox,
        'evidence': {'tbl': 'agent_steps', 'evidence_id': f.evidence_id, 'locator': f.locator},
        'first_network_action': CASE WHEN n.incident_id IS NOT NULL THEN
            {'run_id': n.run_id, 'trajectory_id': n.trajectory_id, 'step': n.step, 'ts': n.cause_ts,
             'command': n.command, 'first_effect': n.effect_kind, 'first_effect_ts': n.effect_ts_corrected,
             'first_effect_summary': n.effect_summary,
             'evidence': {'tbl': n.effect_tbl, 'evidence_id': n.effect_evidence_id, 'locator': n.effect_locator}} END
       } AS answer
FROM first_step f LEFT JOIN first_network n USING (incident_id)
ORDER BY f.incident_id
