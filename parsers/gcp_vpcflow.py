"""Google Cloud VPC Flow Logs: Cloud Logging ``LogEntry`` objects (``logName`` ending in
``compute.googleapis.com%2Fvpc_flows``), one per line (a logging export or sink) or as a JSON array
(``gcloud logging read --format=json``).

Everything is under ``jsonPayload``: ``connection{src_ip, src_port, dest_ip, dest_port,
protocol}``, ``reporter`` (SRC or DEST), ``bytes_sent`` / ``packets_sent`` (int64 as strings),
``start_time`` / ``end_time`` (RFC 3339, nanoseconds), instance, VPC, location and GKE details.
Records are sampled (about one packet in 30) and aggregated over 5 s by default; a flow inside
the VPC is reported from both ends (two rows, one per ``reporter``); denied ingress is not logged
at all. So a missing flow is not evidence of no traffic, and counters are never summed across
reporters. The host is the inventory host owning the reporting side's address, else the
reporting VM's name.
"""

from __future__ import annotations

import json

import pyarrow as pa

from forensics.context import ParseContext
from forensics.firewall.jsonlines import TEXT, iter_line_tables
from forensics.firewall.sink import HostNames, NetEventWriter
from forensics.registry import Parser, Sniff, register

NAME = "gcp_vpcflow"

SELECT = """
WITH v AS (SELECT line, t, CASE WHEN json_valid(t) THEN t END AS j FROM src),
e AS (
    SELECT line, t, j,
           coalesce(json_extract(j, '$.jsonPayload'), j) AS p
    FROM v WHERE j IS NOT NULL AND json_type(j) = 'OBJECT'
),
f AS (
    SELECT line, t, p,
           json_extract_string(p, '$.connection.src_ip') AS src_ip_raw,
           json_extract_string(p, '$.connection.dest_ip') AS dst_ip_raw,
           json_extract_string(p, '$.connection.src_port') AS sport_text,
           json_extract_string(p, '$.connection.dest_port') AS dport_text,
           json_extract_string(p, '$.connection.protocol') AS proto_num,
           json_extract_string(p, '$.start_time') AS start_text,
           json_extract_string(p, '$.end_time') AS end_text,
           upper(json_extract_string(p, '$.reporter')) AS reporter,
           CASE WHEN upper(json_extract_string(p, '$.reporter')) = 'DEST'
                THEN json_extract_string(p, '$.dest_instance.vm_name')
                ELSE json_extract_string(p, '$.src_instance.vm_name') END AS vm_name
    FROM e
)
SELECT line, t AS text,
       CASE WHEN src_ip_raw IS NULL OR dst_ip_raw IS NULL THEN 'flow record without connection.src_ip/dest_ip'
            WHEN TRY_CAST(start_text AS TIMESTAMPTZ) IS NULL THEN 'flow record without a valid start_time'
            WHEN (sport_text IS NOT NULL AND coalesce(TRY_CAST(sport_text AS BIGINT) NOT BETWEEN 0 AND 65535, true))
              OR (dport_text IS NOT NULL AND coalesce(TRY_CAST(dport_text AS BIGINT) NOT BETWEEN 0 AND 65535, true))
                THEN 'port out of range'
       END AS problem,
       vm_name,
       TRY_CAST(start_text AS TIMESTAMPTZ) AS ts, TRY_CAST(end_text AS TIMESTAMPTZ) AS ts_end,
       start_text AS ts_raw, false AS ts_inferred,
       src_ip_raw AS src_ip, TRY_CAST(sport_text AS INTEGER) AS src_port,
       dst_ip_raw AS dst_ip, TRY_CAST(dport_text AS INTEGER) AS dst_port,
       CASE proto_num WHEN '6' THEN 'tcp' WHEN '17' THEN 'udp' WHEN '1' THEN 'icmp' WHEN '58' THEN 'icmpv6'
            WHEN '47' THEN 'gre' WHEN '50' THEN 'esp' WHEN '132' THEN 'sctp' ELSE proto_num END AS proto,
       'allow' AS action,
       TRY_CAST(json_extract_string(p, '$.bytes_sent') AS BIGINT) AS bytes_out,
       TRY_CAST(json_extract_string(p, '$.packets_sent') AS BIGINT) AS packets_out,
       '{kind}:' || line AS locator,
       hash(t) AS dedup_key,
       json_object('reporter', reporter, 'rtt_msec', json_extract_string(p, '$.rtt_msec'),
                   'src_instance', json_extract(p, '$.src_instance'), 'dest_instance', json_extract(p, '$.dest_instance'),
                   'src_vpc', json_extract(p, '$.src_vpc'), 'dest_vpc', json_extract(p, '$.dest_vpc'),
                   'src_location', json_extract(p, '$.src_location'), 'dest_location', json_extract(p, '$.dest_location'),
                   'src_gke_details', json_extract(p, '$.src_gke_details'),
                   'dest_gke_details', json_extract(p, '$.dest_gke_details')) AS extra
FROM f
"""


def sniff(s: Sniff) -> float:
    head = s.text[:16384]
    if "vpc_flows" in head and '"connection"' in head:
        return 0.95
    if '"jsonPayload"' in head and '"src_ip"' in head and '"dest_ip"' in head and '"reporter"' in head:
        return 0.85
    return 0.0


def _load(ctx: ParseContext, writer: NetEventWriter, hosts: HostNames, table: pa.Table, kind: str = "line") -> None:
    con = ctx.con
    _gcp_src = table  # noqa: F841  (read by name)
    staged = con.sql(SELECT.replace("FROM src)", "FROM _gcp_src)").replace("{kind}", kind)).to_arrow_table()
    invalid = con.sql(f"SELECT '{kind}:' || line AS locator, 'not a JSON object (truncated or corrupt line)' AS reason, "
                      "t AS excerpt FROM (SELECT line, t, CASE WHEN json_valid(t) THEN t END AS j FROM _gcp_src) "
                      "WHERE json_type(j) IS DISTINCT FROM 'OBJECT'").to_arrow_table()
    if invalid.num_rows:
        ctx.warn_many(invalid)
    _gcp_staged = staged  # noqa: F841  (read by name)
    ctx.warn_many(con.sql(f"SELECT '{kind}:' || line AS locator, problem AS reason, text AS excerpt FROM _gcp_staged "
                  "WHERE problem IS NOT NULL").to_arrow_table())
    good = con.sql("SELECT * EXCLUDE (problem, text, line) FROM _gcp_staged WHERE problem IS NULL").to_arrow_table()
    if good.num_rows:
        names = good.column("vm_name").to_pylist()
        good = good.drop_columns(["vm_name"]).append_column(
            "host", pa.array([hosts.known_name(n) for n in names], type=pa.string()))
        writer.insert(good, host_from_addresses=True)


def parse(ctx: ParseContext) -> None:
    writer = NetEventWriter(ctx, NAME, family=(NAME,))
    hosts = HostNames(ctx)
    with ctx.open() as handle:
        head = handle.read(4096).lstrip()
    if head.startswith(b"["):  # gcloud's JSON array: one document
        try:
            entries = json.loads(ctx.local_path.read_bytes().decode("utf-8", errors="replace"))
        except json.JSONDecodeError as exc:
            ctx.warn(f"line:{exc.lineno}", f"not valid JSON: {exc.msg}", None)
            return
        texts = [json.dumps(e, ensure_ascii=False) for e in entries if isinstance(e, dict)]
        table = pa.table({"line": pa.array(range(1, len(texts) + 1), type=pa.int64()),
                          "t": pa.array(texts, type=pa.string())})
        _load(ctx, writer, hosts, table, kind="entry")
    else:
        with ctx.open() as handle:
            for table, nread in iter_line_tables(handle):
                table = table.rename_columns(["line", "t"])
                _gcp_raw = table  # noqa: F841  (read by name)
                trimmed = ctx.con.sql(f"SELECT line, {TEXT.replace('text', 't')} AS t FROM _gcp_raw").to_arrow_table()
                _load(ctx, writer, hosts, trimmed)
                ctx.advance(nread)
    writer.deduplicate()


register(Parser(
    name=NAME,
    description="Google Cloud VPC Flow Logs (Cloud Logging entries, JSON lines or a JSON array)",
    tables=("net_events",),
    sniff=sniff,
    parse=parse,
    version="1",
    extensions=(".json",),
))
