-- title: Invariant: every finding has evidence references that resolve
-- description: Findings with no evidence references, or with a reference to a row that is not in
--   the case (a table without it, a wrong evidence id or locator). Must be empty.
WITH refs AS (
    SELECT finding_id, detector, unnest(evidence_refs) AS r FROM findings
), flat AS (
    SELECT finding_id, detector, r.tbl AS tbl, r.evidence_id AS evidence_id, r.locator AS locator FROM refs
), keys AS (
    SELECT DISTINCT tbl, evidence_id, locator FROM flat
), found AS (
    SELECT 'net_events' AS tbl, evidence_id, locator FROM net_events SEMI JOIN keys k USING (evidence_id, locator)
    UNION SELECT 'flows', evidence_id, locator FROM flows SEMI JOIN keys USING (evidence_id, locator)
    UNION SELECT 'dns', evidence_id, locator FROM dns SEMI JOIN keys USING (evidence_id, locator)
    UNION SELECT 'http', evidence_id, locator FROM http SEMI JOIN keys USING (evidence_id, locator)
    UNION SELECT 'tls', evidence_id, locator FROM tls SEMI JOIN keys USING (evidence_id, locator)
    UNION SELECT 'ssh_sessions', evidence_id, locator FROM ssh_sessions SEMI JOIN keys USING (evidence_id, locator)
    UNION SELECT 'jsonrpc_msgs', evidence_id, locator FROM jsonrpc_msgs SEMI JOIN keys USING (evidence_id, locator)
    UNION SELECT 'processes', evidence_id, locator FROM processes SEMI JOIN keys USING (evidence_id, locator)
    UNION SELECT 'process_sockets', evidence_id, locator FROM process_sockets SEMI JOIN keys USING (evidence_id, locator)
    UNION SELECT 'falco_alerts', evidence_id, locator FROM falco_alerts SEMI JOIN keys USING (evidence_id, locator)
    UNION SELECT 'gpu_processes', evidence_id, locator FROM gpu_processes SEMI JOIN keys USING (evidence_id, locator)
    UNION SELECT 'gpu_samples', evidence_id, locator FROM gpu_samples SEMI JOIN keys USING (evidence_id, locator)
    UNION SELECT 'gpu_events', evidence_id, locator FROM gpu_events SEMI JOIN keys USING (evidence_id, locator)
    UNION SELECT 'agent_steps', evidence_id, locator FROM agent_steps SEMI JOIN keys USING (evidence_id, locator)
    UNION SELECT 'agent_actions', evidence_id, locator FROM agent_actions SEMI JOIN keys USING (evidence_id, locator)
    UNION SELECT 'entities', evidence_id, locator FROM entities SEMI JOIN keys USING (evidence_id, locator)
)
SELECT finding_id, detector, 'no evidence references' AS problem FROM findings
WHERE evidence_refs IS NULL OR len(evidence_refs) = 0
UNION ALL
SELECT DISTINCT f.finding_id, f.detector, 'reference ' || f.tbl || ' ' || f.evidence_id || ' ' || f.locator || ' resolves to nothing'
FROM flat f LEFT JOIN found x ON x.tbl = f.tbl AND x.evidence_id = f.evidence_id AND x.locator = f.locator
WHERE x.tbl IS NULL
