-- title: Invariant: every link stands on evidence
-- description: Links whose cause is not an agent step in the case, whose effect row (or finding)
--   is not in the case, or that have no evidence rows behind them. Must be empty.
WITH missing_cause AS (
    SELECT l.link_id, 'cause step not in agent_steps' AS problem FROM links l
    WHERE NOT EXISTS (SELECT 1 FROM agent_steps s WHERE s.evidence_id = l.cause_evidence_id AND s.locator = l.cause_locator)
), no_rows AS (
    SELECT l.link_id, 'no evidence rows (link_rows)' FROM links l
    WHERE NOT EXISTS (SELECT 1 FROM link_rows r WHERE r.link_id = l.link_id)
), missing_finding AS (
    SELECT l.link_id, 'finding not in findings' FROM links l
    WHERE l.effect_tbl = 'findings' AND NOT EXISTS (SELECT 1 FROM findings f WHERE f.finding_id = l.finding_id)
), refs AS (
    SELECT DISTINCT tbl, evidence_id, locator FROM link_rows
), missing_row AS (
    SELECT DISTINCT r.link_id, 'evidence row ' || r.tbl || ' ' || r.evidence_id || ' ' || r.locator || ' not in the case'
    FROM link_rows r
    JOIN (SELECT * FROM refs
          EXCEPT SELECT 'net_events', evidence_id, locator FROM net_events SEMI JOIN refs USING (evidence_id, locator)
          EXCEPT SELECT 'flows', evidence_id, locator FROM flows SEMI JOIN refs USING (evidence_id, locator)
          EXCEPT SELECT 'dns', evidence_id, locator FROM dns SEMI JOIN refs USING (evidence_id, locator)
          EXCEPT SELECT 'http', evidence_id, locator FROM http SEMI JOIN refs USING (evidence_id, locator)
          EXCEPT SELECT 'tls', evidence_id, locator FROM tls SEMI JOIN refs USING (evidence_id, locator)
          EXCEPT SELECT 'ssh_sessions', evidence_id, locator FROM ssh_sessions SEMI JOIN refs USING (evidence_id, locator)
          EXCEPT SELECT 'jsonrpc_msgs', evidence_id, locator FROM jsonrpc_msgs SEMI JOIN refs USING (evidence_id, locator)
          EXCEPT SELECT 'processes', evidence_id, locator FROM processes SEMI JOIN refs USING (evidence_id, locator)
          EXCEPT SELECT 'process_sockets', evidence_id, locator FROM process_sockets SEMI JOIN refs USING (evidence_id, locator)
          EXCEPT SELECT 'falco_alerts', evidence_id, locator FROM falco_alerts SEMI JOIN refs USING (evidence_id, locator)
          EXCEPT SELECT 'gpu_processes', evidence_id, locator FROM gpu_processes SEMI JOIN refs USING (evidence_id, locator)
          EXCEPT SELECT 'gpu_samples', evidence_id, locator FROM gpu_samples SEMI JOIN refs USING (evidence_id, locator)
         ) gone ON gone.tbl = r.tbl AND gone.evidence_id = r.evidence_id AND gone.locator = r.locator
)
SELECT * FROM missing_cause
UNION ALL SELECT * FROM no_rows
UNION ALL SELECT * FROM missing_finding
UNION ALL SELECT * FROM missing_row
