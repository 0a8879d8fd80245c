-- title: Indicators from agent actions
-- description: External addresses, host names, URLs and wallets that agent commands used for
--   tunnels, scans, mining, download-and-run, persistence, credential access, evasion or exfiltration
--   (reconnaissance left out), each with the action's ATT&CK id.
SELECT CASE indicator_kind WHEN 'host' THEN 'domain' ELSE indicator_kind END AS type,
       CASE WHEN indicator_kind = 'host' THEN lower(coalesce(hostname, indicator_value))
            WHEN indicator_kind = 'ip' THEN coalesce(ip, indicator_value)
            ELSE indicator_value END AS value,
       category || coalesce('/' || technique, '') AS kind,
       CASE WHEN attack_id IS NULL THEN []::VARCHAR[] ELSE [attack_id] END AS attack_ids,
       ts AS first_seen, ts AS last_seen, 'agent_actions' AS source, evidence_id, locator
FROM agent_actions
WHERE category <> 'recon'
  AND indicator_kind IN ('ip', 'host', 'url', 'wallet')
  AND indicator_value IS NOT NULL
  AND NOT (indicator_kind = 'ip' AND (ip_is_internal(coalesce(ip, indicator_value))
                                      OR ip_is_private(coalesce(ip, indicator_value))))
  AND NOT (indicator_kind = 'host' AND lower(coalesce(hostname, indicator_value)) IN ('localhost', 'localhost.localdomain'))
