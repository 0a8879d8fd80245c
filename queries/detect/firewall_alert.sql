-- title: Firewall and IDS alerts, imported with their own labels
-- description: Records a firewall or IDS marked as an attack: action alert (Alibaba Cloud Firewall
--   rule_result alert, Suricata alerts, CEF act=alert) or a cloud firewall IPS label
--   (attack_type_name, IPS rule name) on a record it dropped or passed. Records
--   of one label and connection form one finding that keeps the source's wording (Chinese text
--   included) in its summary and details. Alerts about traffic from the cluster are kind
--   firewall_alert (the host is where it came from); alerts about traffic from outside are kind
--   inbound_alert (the host is the target, nothing inside caused them). The finding starts when
--   the firewall first logged the alert; details.session_start is when the session began.
-- param max_refs: 200  -- evidence references kept per finding
-- attack: T1496.001, T1110, T1071

WITH alerts AS (
    SELECT n.*, coalesce(n.src_private_ip, n.src_ip) AS src,
           json_extract_string(n.extra, '$.attack_type_name') AS attack_type_name,
           json_extract_string(n.extra, '$.ips_rule_name') AS ips_rule_name,
           json_extract_string(n.extra, '$.ips_rule_name_en') AS ips_rule_name_en,
           json_extract_string(n.extra, '$.signature') AS signature,
           TRY_CAST(json_extract_string(n.extra, '$.alert_severity') AS INTEGER) AS ids_severity,
           -- when the firewall logged it (the record's ts is the session start)
           coalesce(to_timestamp(TRY_CAST(json_extract_string(n.extra, '$.log_time') AS BIGINT)), n.ts) AS logged
    FROM net_events n
    -- the cloud firewall's label is an attack type even on records it only dropped or passed
    WHERE n.action = 'alert' OR (n.label IS NOT NULL AND n.source_format = 'alibaba_cloudfw')
),
grouped AS (
    SELECT host, src, dst_ip, dst_port, proto, source_format, label, direction,
           min(logged) AS ts_start, max(coalesce(ts_end, logged)) AS ts_end, min(ts) AS session_start,
           count(*) AS records,
           count(*) FILTER (WHERE action = 'deny') AS blocked,
           count(*) FILTER (WHERE action = 'alert') AS alerted,
           list(DISTINCT attack_type_name) FILTER (WHERE attack_type_name IS NOT NULL) AS attack_type_names,
           list(DISTINCT ips_rule_name) FILTER (WHERE ips_rule_name IS NOT NULL) AS ips_rule_names,
           list(DISTINCT ips_rule_name_en) FILTER (WHERE ips_rule_name_en IS NOT NULL) AS ips_rule_names_en,
           list(DISTINCT rule) FILTER (WHERE rule IS NOT NULL) AS rules,
           min(ids_severity) AS ids_severity,
           sum(bytes_out) AS bytes_out, sum(bytes_in) AS bytes_in,
           list({'tbl': 'net_events', 'evidence_id': evidence_id, 'locator': locator} ORDER BY ts, locator) AS refs
    FROM alerts
    GROUP BY host, src, dst_ip, dst_port, proto, source_format, label, direction
),
labelled AS (
    SELECT *,
           regexp_matches(lower(coalesce(label, '') || ' ' || array_to_string(coalesce(attack_type_names, []), ' ')
                                || ' ' || array_to_string(coalesce(ips_rule_names_en, []), ' ')),
                          'min(ing|er)|coin|crypto|stratum|xmr|monero|挖矿') AS mining,
           regexp_matches(lower(coalesce(label, '') || ' ' || array_to_string(coalesce(ips_rule_names_en, []), ' ')),
                          'brute|暴力') AS brute
    FROM grouped
)
SELECT CASE WHEN direction IN ('inbound', 'external') THEN 'inbound_alert' ELSE 'firewall_alert' END AS kind,
       CASE WHEN source_format = 'suricata_eve' THEN 'IDS alert: ' ELSE 'Firewall alert: ' END
           || coalesce(label, 'unlabelled') AS title,
       CASE WHEN mining THEN 'high' WHEN ids_severity = 1 THEN 'high' WHEN ids_severity = 3 THEN 'low'
            WHEN direction IN ('inbound', 'external') THEN 'medium' ELSE 'medium' END AS severity,
       0.9 AS confidence,
       ts_start, ts_end, host, src AS src_ip, dst_ip, dst_port,
       CASE WHEN source_format = 'suricata_eve' THEN 'Suricata' WHEN source_format = 'alibaba_cloudfw'
            THEN 'Cloud firewall' ELSE source_format END
           || ' ' || CASE WHEN alerted > 0 THEN 'alert' ELSE 'IPS record' END
           || ' "' || coalesce(label, '?') || '"'
           || CASE WHEN len(coalesce(attack_type_names, [])) > 0
                   THEN ' (' || array_to_string(attack_type_names, '; ') || ')' ELSE '' END
           || CASE WHEN len(coalesce(ips_rule_names_en, [])) > 0 OR len(coalesce(ips_rule_names, [])) > 0
                   THEN ', rule "' || array_to_string(coalesce(ips_rule_names_en, ips_rule_names), '; ') || '"'
                        || CASE WHEN len(coalesce(ips_rule_names, [])) > 0 AND len(coalesce(ips_rule_names_en, [])) > 0
                                THEN ' / ' || array_to_string(ips_rule_names, '; ') ELSE '' END
                   ELSE '' END
           || ': ' || coalesce(host || ' ', '') || src || ' -> ' || dst_ip || ':' || coalesce(dst_port::VARCHAR, '?')
           || '/' || coalesce(proto, '?') || ', ' || records || ' record(s)'
           || CASE WHEN blocked > 0 THEN ', ' || blocked || ' blocked' ELSE '' END
           || CASE WHEN direction IN ('inbound', 'external') THEN ' (from outside the cluster)' ELSE '' END
           AS summary,
       CASE WHEN mining THEN ['T1496.001', 'T1571'] WHEN brute THEN ['T1110'] ELSE []::VARCHAR[] END AS attack_ids,
       refs[1:$max_refs]::STRUCT(tbl VARCHAR, evidence_id INTEGER, locator VARCHAR)[] AS evidence_refs,
       json_object('source_format', source_format, 'label', label, 'attack_type_name', attack_type_names,
                   'ips_rule_name', ips_rule_names, 'ips_rule_name_en', ips_rule_names_en, 'rules', rules,
                   'records', records, 'blocked', blocked, 'alerted', alerted, 'direction', direction,
                   'bytes_out', bytes_out, 'bytes_in', bytes_in, 'ids_severity', ids_severity,
                   'session_start', session_start) AS details
FROM labelled
ORDER BY ts_start, host
