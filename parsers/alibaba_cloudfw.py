"""Alibaba Cloud Firewall logs exported from its log service (SLS): traffic logs
(``cloudfirewall_access_log``) and IPS logs (``cloudfirewall_ips_log``) of every ``log_type``
(``internet_log``, ``nat_firewall_log``, ``vpc_firewall_log``, ``ipv6_firewall_log``,
``dns_firewall_log``, ``internet_ips_log``, ``vpc_ips_log``), as JSON lines where every value is a
string (``aliyunlog log pull_log_dump``) or as CSV with a header row (SLS to OSS shipping).

One record is one session (or one 10-minute window of a long one) seen at the firewall. Its
addresses are the public side (EIP / NAT address); ``src_private_ip`` names the instance, and the
host is the inventory host owning that address (or the EIP). ``rule_result`` pass / alert / drop
becomes ``action`` allow / alert / deny. ``out_*`` counters are bytes leaving the cloud asset and
``in_*`` bytes arriving, so for an inbound record they are swapped into ``bytes_out`` (source to
destination) and ``bytes_in``. The firewall's own labels stay as it wrote them, Chinese included:
``label`` is ``attack_type_name_en`` (or ``attack_type_name``), and ``extra`` keeps
``attack_type_name``, ``ips_rule_name(_en)``, ``app_name``, ``domain``, ``url``, ``log_type``,
``acl_rule_id`` and the rest. Times are Unix seconds (UTC).
"""

from __future__ import annotations

import csv
import io
import json
import re

import pyarrow as pa

from forensics.context import ParseContext
from forensics.firewall.jsonlines import TEXT, iter_line_tables
from forensics.firewall.sink import NetEventWriter
from forensics.registry import Parser, Sniff, register

NAME = "alibaba_cloudfw"
FIELDS = (
    "__time__", "__topic__", "log_type", "direction", "src_ip", "src_private_ip", "src_port", "dst_ip",
    "dst_port", "ip_protocol", "app_name", "domain", "url", "rule_result", "acl_rule_id", "ips_rule_id",
    "ips_rule_name", "ips_rule_name_en", "attack_type_name", "attack_type_name_en", "vul_level",
    "start_time", "end_time", "in_packet_bytes", "in_packet_count", "out_packet_bytes", "out_packet_count",
    "region_id", "aliuid", "cloud_instance_id", "src_vpc_id", "src_region", "firewall_id",
    "dst_network_instance_id", "dst_region", "rule_source", "country_id", "city_id", "tcp_seq",
)

# The mapping from a relation "r" of all-VARCHAR fields (one per FIELDS entry, plus line and
# text) to net_events rows and a problem column.
SELECT = """
WITH r AS (SELECT * FROM v),
typed AS (
    SELECT *,
           TRY_CAST(nullif(src_port, '') AS BIGINT) AS sport,
           TRY_CAST(nullif(dst_port, '') AS BIGINT) AS dport,
           TRY_CAST(nullif(coalesce(nullif(start_time, ''), __time__), '') AS BIGINT) AS t0,
           TRY_CAST(nullif(coalesce(nullif(end_time, ''), __time__), '') AS BIGINT) AS t1,
           TRY_CAST(nullif(in_packet_bytes, '') AS BIGINT) AS in_b, TRY_CAST(nullif(out_packet_bytes, '') AS BIGINT) AS out_b,
           TRY_CAST(nullif(in_packet_count, '') AS BIGINT) AS in_p, TRY_CAST(nullif(out_packet_count, '') AS BIGINT) AS out_p,
           lower(direction) = 'in' AS inward
    FROM r
)
SELECT line,
       CASE WHEN nullif(src_ip, '') IS NULL OR nullif(dst_ip, '') IS NULL THEN 'record without src_ip/dst_ip'
            WHEN t0 IS NULL THEN 'record without a start_time or __time__ in Unix seconds'
            WHEN t0 < 0 OR t0 > 32503680000 OR t1 < t0 THEN 'impossible start_time/end_time'
            WHEN (sport IS NOT NULL AND (sport < 0 OR sport > 65535)) OR (dport IS NOT NULL AND (dport < 0 OR dport > 65535))
                OR (nullif(src_port, '') IS NOT NULL AND sport IS NULL) OR (nullif(dst_port, '') IS NOT NULL AND dport IS NULL)
                THEN 'port out of range'
            WHEN NOT regexp_full_match(src_ip, '[0-9A-Fa-f:.]+') OR NOT regexp_full_match(dst_ip, '[0-9A-Fa-f:.]+')
                THEN 'src_ip/dst_ip is not an address'
       END AS problem,
       text,
       to_timestamp(t0) AS ts, to_timestamp(t1) AS ts_end, coalesce(nullif(start_time, ''), __time__) AS ts_raw,
       false AS ts_inferred,
       src_ip, sport::INTEGER AS src_port, dst_ip, dport::INTEGER AS dst_port,
       nullif(src_private_ip, '') AS src_private_ip,
       lower(nullif(ip_protocol, '')) AS proto,
       CASE lower(rule_result) WHEN 'pass' THEN 'allow' WHEN 'alert' THEN 'alert'
            WHEN 'drop' THEN 'deny' WHEN 'deny' THEN 'deny' WHEN 'block' THEN 'deny' END AS action,
       CASE WHEN inward THEN in_b ELSE out_b END AS bytes_out,
       CASE WHEN inward THEN out_b ELSE in_b END AS bytes_in,
       CASE WHEN inward THEN in_p ELSE out_p END AS packets_out,
       CASE WHEN inward THEN out_p ELSE in_p END AS packets_in,
       coalesce(nullif(acl_rule_id, ''), nullif(ips_rule_id, '')) AS rule,
       coalesce(nullif(attack_type_name_en, ''), nullif(attack_type_name, ''),
                nullif(ips_rule_name_en, ''), nullif(ips_rule_name, '')) AS label,
       {locator} AS locator,
       hash(src_ip, src_port, dst_ip, dst_port, ip_protocol, start_time, end_time, __time__, log_type,
            rule_result, in_packet_bytes, out_packet_bytes, ips_rule_id) AS dedup_key,
       json_object('topic', nullif(__topic__, ''), 'log_type', nullif(log_type, ''), 'log_time', nullif(__time__, ''),
                   'direction', nullif(direction, ''), 'rule_result', nullif(rule_result, ''),
                   'app_name', nullif(app_name, ''), 'domain', nullif(domain, ''), 'url', nullif(url, ''),
                   'acl_rule_id', nullif(acl_rule_id, ''), 'ips_rule_id', nullif(ips_rule_id, ''),
                   'ips_rule_name', nullif(ips_rule_name, ''), 'ips_rule_name_en', nullif(ips_rule_name_en, ''),
                   'attack_type_name', nullif(attack_type_name, ''),
                   'attack_type_name_en', nullif(attack_type_name_en, ''), 'vul_level', nullif(vul_level, ''),
                   'region_id', nullif(region_id, ''), 'aliuid', nullif(aliuid, ''),
                   'cloud_instance_id', nullif(cloud_instance_id, ''), 'src_vpc_id', nullif(src_vpc_id, ''),
                   'firewall_id', nullif(firewall_id, ''),
                   'dst_network_instance_id', nullif(dst_network_instance_id, '')) AS extra
FROM typed
"""


def sniff(s: Sniff) -> float:
    """Claim only a file whose first record is one: a JSON object (or a CSV header) naming the
    firewall's own keys. A document that merely mentions them (a README, a case note, a
    ground-truth file) is not a log."""
    lines = s.first_nonblank_lines
    if not lines:
        return 0.0
    first = lines[0].lstrip("\ufeff").strip()
    if first.startswith("{"):
        try:
            record = json.loads(first)
        except ValueError:
            # a first line cut by the sniff window or a damaged record: the keys must still be there
            keys = set(re.findall(r'"([A-Za-z_]+)"\s*:', first))
        else:
            if not isinstance(record, dict):
                return 0.0
            keys = set(record)
    else:
        keys = {cell.strip().strip('"') for cell in next(csv.reader([first]), [])}
    if not {"src_ip", "dst_ip", "rule_result"} <= keys:
        return 0.0
    if keys & {"__topic__", "log_type", "src_private_ip", "attack_type_name", "ips_rule_name"}:
        return 0.95
    return 0.3


def _write(ctx: ParseContext, writer: NetEventWriter, table: pa.Table, locator: str) -> None:
    """``table`` has line, text and the FIELDS as strings; rows with a problem become warnings."""
    con = ctx.con
    name = "_alibaba_block"
    _alibaba_block = table  # noqa: F841  (read by name)
    staged = con.sql(SELECT.format(locator=locator).replace("FROM v)", f"FROM {name})")).to_arrow_table()
    _alibaba_staged = staged  # noqa: F841  (read by name)
    ctx.warn_many(con.sql(f"SELECT {locator} AS locator, problem AS reason, text AS excerpt "
                  "FROM _alibaba_staged WHERE problem IS NOT NULL").to_arrow_table())
    ctx.warn_many(con.sql(f"SELECT {locator} AS locator, 'text that is not UTF-8 (replaced with U+FFFD)' AS reason, "
                  "text AS excerpt FROM _alibaba_staged WHERE problem IS NULL AND contains(text, '\ufffd')").to_arrow_table())
    good = con.sql("SELECT * EXCLUDE (problem, text, line) FROM _alibaba_staged WHERE problem IS NULL").to_arrow_table()
    if good.num_rows:
        writer.insert(good, host_from_addresses=True)


def parse_json_lines(ctx: ParseContext, writer: NetEventWriter) -> None:
    con = ctx.con
    fields = ", ".join(f"coalesce(json_extract_string(j, '$.\"{f}\"'), '') AS \"{f}\"" for f in FIELDS)
    with ctx.open() as handle:
        for table, nread in iter_line_tables(handle):
            _alibaba_lines = table  # noqa: F841  (read by name)
            parsed = con.sql(f"""
                SELECT line, t AS text, j IS NOT NULL AND json_type(j) = 'OBJECT' AS valid, {fields}
                FROM (SELECT line, t, CASE WHEN json_valid(t) THEN t END AS j
                      FROM (SELECT line, {TEXT} AS t FROM _alibaba_lines))""").to_arrow_table()
            _alibaba_parsed = parsed  # noqa: F841  (read by name)
            ctx.warn_many(con.sql("SELECT 'line:' || line AS locator, 'not a JSON object (truncated or corrupt line)' "
                          "AS reason, text AS excerpt FROM _alibaba_parsed WHERE NOT valid").to_arrow_table())
            records = con.sql("SELECT * EXCLUDE (valid) FROM _alibaba_parsed WHERE valid").to_arrow_table()
            _write(ctx, writer, records, "'line:' || line")
            ctx.advance(nread)


def parse_csv(ctx: ParseContext, writer: NetEventWriter, delimiter: str) -> None:
    """CSV with a header row naming the fields (any order, extra columns ignored)."""
    with ctx.open() as handle:
        text = io.TextIOWrapper(handle, encoding="utf-8", errors="replace", newline="")
        reader = csv.reader(text, delimiter=delimiter)
        header = next(reader, None)
        if not header:
            return
        index = {name.strip().lstrip("\ufeff"): i for i, name in enumerate(header)}
        batch: dict[str, list] = {"line": [], "text": [], **{f: [] for f in FIELDS}}

        def flush() -> None:
            if batch["line"]:
                _write(ctx, writer, pa.table({k: pa.array(v, type=pa.int64() if k == "line" else pa.string())
                                              for k, v in batch.items()}), "'line:' || line")
                for values in batch.values():
                    values.clear()

        for row in reader:
            line = reader.line_num
            if not row or all(not cell for cell in row):
                continue
            if len(row) != len(header):
                ctx.warn(f"line:{line}", f"CSV row with {len(row)} fields, the header has {len(header)}",
                         delimiter.join(row))
                continue
            batch["line"].append(line)
            batch["text"].append(delimiter.join(row))
            for name in FIELDS:
                i = index.get(name)
                batch[name].append(row[i] if i is not None else "")
            if len(batch["line"]) >= 50_000:
                flush()
        flush()


def parse(ctx: ParseContext) -> None:
    writer = NetEventWriter(ctx, NAME, family=(NAME,))
    with ctx.open() as handle:
        head = handle.read(8192).decode("utf-8", errors="replace").lstrip("\ufeff").lstrip()
    if head.startswith("{"):
        parse_json_lines(ctx, writer)
    else:
        first = head.splitlines()[0] if head else ""
        delimiter = max((",", "\t", ";", "|"), key=first.count)
        parse_csv(ctx, writer, delimiter)
    writer.deduplicate()


register(Parser(
    name=NAME,
    description="Alibaba Cloud Firewall traffic and IPS logs exported from SLS (JSON lines or CSV)",
    tables=("net_events",),
    sniff=sniff,
    parse=parse,
    version="1",
    extensions=(".json", ".csv"),
))
