"""Suricata ``eve.json``: one JSON event per line; ``flow_id`` ties the events of one connection.

- ``flow`` (written when a flow ends): a ``flows`` row (uid = flow_id, bytes and packets to
  server / to client, duration from ``flow.start``/``flow.end``; ``conn_state`` S0 when the
  server never answered a TCP or UDP flow, otherwise SF for a closed flow and S1 for one still
  open) and a ``net_events`` row;
- ``netflow`` (one direction): a ``net_events`` row;
- ``alert``: a ``net_events`` row with ``action`` alert, the signature as ``label``, the
  signature id as ``rule`` and category, severity, gid/rev and Suricata's own action in
  ``extra``; detect/firewall_alert imports it as a finding under its signature;
- ``ssh``, ``tls``, ``dns``, ``http``: rows of the capture tables ``ssh_sessions`` (banners),
  ``tls`` (SNI, version, JA3/JA3S), ``dns`` (query, type, rcode, answers), ``http``;
- other types (``stats``, ``fileinfo``, ``anomaly`` ...) are counted and skipped.

``timestamp`` is local time with a ``±HHMM`` offset (exact, not inferred). The host is the
file's host hint, else the inventory host owning either address.
"""

from __future__ import annotations

from forensics.context import ParseContext, sql_string
from forensics.firewall.jsonlines import TEXT, iter_line_tables
from forensics.firewall.sink import NetEventWriter, canonical_ip_sql
from forensics.registry import Parser, Sniff, register

NAME = "suricata_eve"

BASE = """
SELECT line, t AS text, j,
       json_extract_string(j, '$.event_type') AS event_type,
       TRY_CAST(json_extract_string(j, '$.timestamp') AS TIMESTAMPTZ) AS ts,
       json_extract_string(j, '$.timestamp') AS ts_raw,
       json_extract_string(j, '$.flow_id') AS uid,
       {src} AS src_ip, {dst} AS dst_ip,
       json_extract_string(j, '$.src_port') AS sport_text, json_extract_string(j, '$.dest_port') AS dport_text,
       TRY_CAST(json_extract_string(j, '$.src_port') AS INTEGER) AS src_port,
       TRY_CAST(json_extract_string(j, '$.dest_port') AS INTEGER) AS dst_port,
       lower(json_extract_string(j, '$.proto')) AS proto,
       nullif(nullif(json_extract_string(j, '$.app_proto'), 'failed'), 'unknown') AS app_proto
FROM _eve_block WHERE json_type(j) = 'OBJECT'
""".format(src=canonical_ip_sql("json_extract_string(j, '$.src_ip')"),
           dst=canonical_ip_sql("json_extract_string(j, '$.dest_ip')"))


def sniff(s: Sniff) -> float:
    head = s.text[:8192]
    if head.lstrip().startswith("{") and '"event_type"' in head and '"timestamp"' in head:
        if '"flow_id"' in head or '"stats"' in head or '"src_ip"' in head:
            return 0.9
    return 0.0


def _host(ctx: ParseContext, src: str, dst: str) -> str:
    hint = sql_string(ctx.hints.host) if ctx.hints.host else "NULL::VARCHAR"
    return (f"coalesce({hint}, (SELECT min(h.host) FROM _fw_host_static h WHERE h.ip = {src}), "
            f"(SELECT min(h.host) FROM _fw_host_static h WHERE h.ip = {dst}))")


def parse(ctx: ParseContext) -> None:
    con = ctx.con
    writer = NetEventWriter(ctx, NAME, family=(NAME,))
    writer._host_map()
    other = 0
    host = _host(ctx, "e.src_ip", "e.dst_ip")
    with ctx.open() as handle:
        for table, nread in iter_line_tables(handle):
            # Arrow, not temporary tables: in the file's one transaction replaced tables are kept
            _eve_lines = table  # noqa: F841  (read by name)
            block = con.sql(f"""SELECT line, t, CASE WHEN json_valid(t) THEN t END AS j
                                FROM (SELECT line, {TEXT} AS t FROM _eve_lines)""").to_arrow_table()
            _eve_block = block  # noqa: F841  (read by name)
            ctx.warn_many(con.sql("SELECT 'line:' || line AS locator, 'not a JSON object (truncated or corrupt line)' AS reason, "
                          "t AS excerpt FROM _eve_block WHERE json_type(j) IS DISTINCT FROM 'OBJECT'").to_arrow_table())
            events = con.sql(BASE).to_arrow_table()
            _eve_all = events  # noqa: F841  (read by name)
            bad = """event_type <> 'stats' AND (ts IS NULL
               OR (sport_text IS NOT NULL AND coalesce(src_port NOT BETWEEN 0 AND 65535, true))
               OR (dport_text IS NOT NULL AND coalesce(dst_port NOT BETWEEN 0 AND 65535, true)))"""
            ctx.warn_many(con.sql(f"""SELECT 'line:' || line AS locator,
                   CASE WHEN ts IS NULL THEN 'event without a valid timestamp' ELSE 'port out of range' END AS reason,
                   text AS excerpt FROM _eve_all WHERE {bad}""").to_arrow_table())
            good = con.sql(f"SELECT * FROM _eve_all WHERE NOT ({bad})").to_arrow_table()
            _eve = good  # noqa: F841  (read by name)
            other += con.execute("SELECT count(*) FROM _eve WHERE event_type NOT IN "
                                 "('flow', 'netflow', 'alert', 'ssh', 'tls', 'dns', 'http')").fetchall()[0][0]
            _flows(ctx, writer, host, _eve)
            _alerts(ctx, writer, host, _eve)
            _app_tables(ctx, host, _eve)
            ctx.advance(nread)
    if other:
        ctx.warn(None, f"{other} events of other types (stats, fileinfo, anomaly ...) skipped")
    writer.deduplicate()


def _flows(ctx: ParseContext, writer: NetEventWriter, host: str, _eve) -> None:
    con = ctx.con
    rows = con.sql(f"""
        WITH e AS (SELECT * FROM _eve WHERE event_type IN ('flow', 'netflow')),
        f AS (
            SELECT e.*, {host} AS host,
                   coalesce(json_extract(j, '$.flow'), json_extract(j, '$.netflow')) AS fl
            FROM e
        )
        SELECT line, event_type, host, src_ip, src_port, dst_ip, dst_port, proto, app_proto, uid, ts_raw,
               coalesce(TRY_CAST(json_extract_string(fl, '$.start') AS TIMESTAMPTZ), ts) AS start_ts,
               TRY_CAST(json_extract_string(fl, '$.end') AS TIMESTAMPTZ) AS end_ts,
               TRY_CAST(json_extract_string(fl, '$.pkts_toserver') AS BIGINT) AS pkts_toserver,
               TRY_CAST(json_extract_string(fl, '$.pkts_toclient') AS BIGINT) AS pkts_toclient,
               TRY_CAST(json_extract_string(fl, '$.bytes_toserver') AS BIGINT) AS bytes_toserver,
               TRY_CAST(json_extract_string(fl, '$.bytes_toclient') AS BIGINT) AS bytes_toclient,
               TRY_CAST(json_extract_string(fl, '$.pkts') AS BIGINT) AS pkts,
               TRY_CAST(json_extract_string(fl, '$.bytes') AS BIGINT) AS bytes,
               json_extract_string(fl, '$.state') AS state, json_extract_string(fl, '$.reason') AS reason,
               json_extract_string(j, '$.tcp.tcp_flags') AS tcp_flags_hex,
               json_extract(j, '$.tcp') AS tcp, json_extract_string(j, '$.community_id') AS community_id
        FROM f""").to_arrow_table()
    if not rows.num_rows:
        return
    _eve_flows = rows  # noqa: F841  (read by name)
    ctx.insert("flows", con.sql(f"""
        SELECT start_ts AS ts, uid, src_ip AS orig_h, src_port AS orig_p, dst_ip AS resp_h, dst_port AS resp_p,
               proto, app_proto AS service, epoch(end_ts) - epoch(start_ts) AS duration,
               bytes_toserver AS orig_bytes, bytes_toclient AS resp_bytes,
               CASE WHEN proto IN ('tcp', 'udp') AND coalesce(pkts_toclient, 0) = 0 THEN 'S0'
                    WHEN state = 'closed' THEN 'SF' WHEN pkts_toclient > 0 THEN 'S1' END AS conn_state,
               pkts_toserver AS orig_pkts, pkts_toclient AS resp_pkts, host,
               '{NAME}' AS source_format, 'line:' || line AS locator
        FROM _eve_flows WHERE event_type = 'flow'""").to_arrow_table())
    events = con.sql("""
        SELECT start_ts AS ts, end_ts AS ts_end, ts_raw, false AS ts_inferred, host, src_ip, src_port, dst_ip,
               dst_port, proto,
               CASE WHEN event_type = 'flow' THEN bytes_toserver ELSE bytes END AS bytes_out,
               CASE WHEN event_type = 'flow' THEN bytes_toclient END AS bytes_in,
               CASE WHEN event_type = 'flow' THEN pkts_toserver ELSE pkts END AS packets_out,
               CASE WHEN event_type = 'flow' THEN pkts_toclient END AS packets_in,
               'line:' || line AS locator, hash(uid, event_type, ts_raw, src_ip, src_port) AS dedup_key,
               json_object('event_type', event_type, 'flow_id', uid, 'app_proto', app_proto, 'state', state,
                           'reason', reason, 'tcp', tcp, 'community_id', community_id) AS extra
        FROM _eve_flows""").to_arrow_table()
    writer.insert(events, host_from_addresses=True)


def _alerts(ctx: ParseContext, writer: NetEventWriter, host: str, _eve) -> None:
    con = ctx.con
    alerts = con.sql(f"""
        SELECT e.ts, e.ts_raw, false AS ts_inferred, {host} AS host, e.src_ip, e.src_port, e.dst_ip, e.dst_port,
               e.proto, 'alert' AS action,
               json_extract_string(e.j, '$.alert.signature') AS label,
               json_extract_string(e.j, '$.alert.signature_id') AS rule,
               TRY_CAST(json_extract_string(e.j, '$.flow.bytes_toserver') AS BIGINT) AS bytes_out,
               TRY_CAST(json_extract_string(e.j, '$.flow.bytes_toclient') AS BIGINT) AS bytes_in,
               TRY_CAST(json_extract_string(e.j, '$.flow.pkts_toserver') AS BIGINT) AS packets_out,
               TRY_CAST(json_extract_string(e.j, '$.flow.pkts_toclient') AS BIGINT) AS packets_in,
               'line:' || e.line AS locator, hash(e.text) AS dedup_key,
               json_object('event_type', 'alert', 'flow_id', e.uid, 'signature', json_extract_string(e.j, '$.alert.signature'),
                           'category', json_extract_string(e.j, '$.alert.category'),
                           'alert_severity', json_extract_string(e.j, '$.alert.severity'),
                           'gid', json_extract_string(e.j, '$.alert.gid'), 'rev', json_extract_string(e.j, '$.alert.rev'),
                           'ids_action', json_extract_string(e.j, '$.alert.action'), 'app_proto', e.app_proto,
                           'metadata', json_extract(e.j, '$.alert.metadata'),
                           'sni', json_extract_string(e.j, '$.tls.sni'),
                           'http_hostname', json_extract_string(e.j, '$.http.hostname')) AS extra
        FROM _eve e WHERE e.event_type = 'alert'""").to_arrow_table()
    if alerts.num_rows:
        writer.insert(alerts, host_from_addresses=True)


def _app_tables(ctx: ParseContext, host: str, _eve) -> None:
    """ssh, tls, dns and http events into the capture tables, when this case has them."""
    con = ctx.con
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    common = f"e.ts, e.uid, {host} AS host, e.src_ip AS orig_h, e.src_port AS orig_p, e.dst_ip AS resp_h, " \
             "e.dst_port AS resp_p, 'line:' || e.line AS locator"
    if "ssh_sessions" in tables:
        ctx.insert("ssh_sessions", con.sql(f"""
            SELECT {common},
                   TRY_CAST(split_part(json_extract_string(e.j, '$.ssh.client.proto_version'), '.', 1) AS INTEGER) AS version,
                   'SSH-' || json_extract_string(e.j, '$.ssh.client.proto_version') || '-'
                       || json_extract_string(e.j, '$.ssh.client.software_version') AS client,
                   'SSH-' || json_extract_string(e.j, '$.ssh.server.proto_version') || '-'
                       || json_extract_string(e.j, '$.ssh.server.software_version') AS server,
                   json_extract_string(e.j, '$.ssh.client.hassh.hash') AS hassh,
                   json_extract_string(e.j, '$.ssh.client.hassh.string') AS hassh_algorithms,
                   json_extract_string(e.j, '$.ssh.server.hassh.hash') AS hassh_server,
                   json_extract_string(e.j, '$.ssh.server.hassh.string') AS hassh_server_algorithms
            FROM _eve e WHERE e.event_type = 'ssh'""").to_arrow_table())
    if "tls" in tables:
        ctx.insert("tls", con.sql(f"""
            SELECT {common}, replace(json_extract_string(e.j, '$.tls.version'), 'TLS ', 'TLSv') AS version,
                   json_extract_string(e.j, '$.tls.sni') AS server_name,
                   json_extract_string(e.j, '$.tls.ja3.hash') AS ja3, json_extract_string(e.j, '$.tls.ja3s.hash') AS ja3s
            FROM _eve e WHERE e.event_type = 'tls'""").to_arrow_table())
    if "dns" in tables:
        ctx.insert("dns", con.sql(f"""
            SELECT {common}, e.proto,
                   TRY_CAST(json_extract_string(e.j, '$.dns.id') AS INTEGER) AS trans_id,
                   json_extract_string(e.j, '$.dns.rrname') AS query,
                   json_extract_string(e.j, '$.dns.rrtype') AS qtype_name,
                   json_extract_string(e.j, '$.dns.rcode') AS rcode_name,
                   CASE WHEN json_extract_string(e.j, '$.dns.rdata') IS NOT NULL
                        THEN [json_extract_string(e.j, '$.dns.rdata')]
                        ELSE list_transform(json_extract(e.j, '$.dns.answers[*].rdata')::VARCHAR[], lambda x: trim(x, '"'))
                   END AS answers
            FROM _eve e WHERE e.event_type = 'dns'""").to_arrow_table())
    if "http" in tables:
        ctx.insert("http", con.sql(f"""
            SELECT {common}, json_extract_string(e.j, '$.http.http_method') AS method,
                   json_extract_string(e.j, '$.http.hostname') AS host_header,
                   json_extract_string(e.j, '$.http.url') AS uri,
                   json_extract_string(e.j, '$.http.http_user_agent') AS user_agent,
                   TRY_CAST(json_extract_string(e.j, '$.http.status') AS INTEGER) AS status_code
            FROM _eve e WHERE e.event_type = 'http'""").to_arrow_table())


register(Parser(
    name=NAME,
    description="Suricata eve.json: flow/netflow into flows and net_events, alerts, ssh/tls/dns/http into the capture tables",
    tables=("flows", "net_events", "ssh_sessions", "tls", "dns", "http"),
    sniff=sniff,
    parse=parse,
    version="1",
    extensions=(".json",),
))
