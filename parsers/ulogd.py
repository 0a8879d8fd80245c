"""ulogd2 JSON output (``/var/log/ulogd.json``): one object per packet that an nftables/iptables
``log group N`` (NFLOG) rule sent to ulogd.

Keys are ulogd's (``oob.prefix``, ``oob.in``, ``oob.out``, ``oob.uid``, ``raw.pktlen``, ``ip.totlen``,
``ip.ttl``, ``ip.id``, ``ip.protocol`` as a number, ``tcp.syn``/``tcp.ack``/... flags, ``icmp.type``)
or their CIM names (``src_ip``, ``dest_ip``, ``src_port``, ``dest_port``, ``dvc``). The ``timestamp``
is local time without an offset in older ulogd (the file's zone hint applies, marked inferred)
and with ``+HHMM`` in newer versions. Rows are shaped like kern.log's (prefix as ``rule`` and the
action read from it, TCP flags in the kernel's order), and belong to the same de-duplication
family. ulogd's LOGEMU text output is kern.log's format and goes through ``netfilter``.
"""

from __future__ import annotations

import pyarrow as pa

from forensics.context import ParseContext, sql_string
from forensics.firewall.jsonlines import TEXT, iter_line_tables
from forensics.firewall.netfilter_line import actions_for
from forensics.firewall.sink import NETFILTER_FAMILY, HostNames, NetEventWriter
from forensics.registry import Parser, Sniff, register

NAME = "ulogd"
FLAGS = ("cwr", "ece", "urg", "ack", "psh", "rst", "syn", "fin")  # the kernel's printing order


def sniff(s: Sniff) -> float:
    head = s.text[:8192]
    if head.lstrip().startswith("{") and ('"oob.prefix"' in head or '"oob.in"' in head or '"raw.pktlen"' in head):
        return 0.9
    return 0.0


def _get(key: str) -> str:
    return f"json_extract_string(j, '$.\"{key}\"')"


def parse(ctx: ParseContext) -> None:
    con = ctx.con
    writer = NetEventWriter(ctx, NAME, family=NETFILTER_FAMILY)
    hosts = HostNames(ctx)
    tz = sql_string(ctx.hints.timezone or "UTC")
    flags = ", ".join(f"CASE WHEN {_get('tcp.' + f)} IN ('true', '1') THEN '{f.upper()}' END" for f in FLAGS)
    with ctx.open() as handle:
        for table, nread in iter_line_tables(handle):
            _ulogd_lines = table  # noqa: F841  (read by name)
            staged = con.sql(f"""
                WITH v AS (SELECT line, t, CASE WHEN json_valid(t) THEN t END AS j
                           FROM (SELECT line, {TEXT} AS t FROM _ulogd_lines)),
                r AS (
                    SELECT line, t, j, {_get('timestamp')} AS stamp,
                           coalesce({_get('src_ip')}, {_get('ip.saddr')}) AS src,
                           coalesce({_get('dest_ip')}, {_get('ip.daddr')}) AS dst,
                           coalesce({_get('src_port')}, {_get('tcp.sport')}, {_get('udp.sport')}) AS sport_text,
                           coalesce({_get('dest_port')}, {_get('tcp.dport')}, {_get('udp.dport')}) AS dport_text,
                           {_get('ip.protocol')} AS proto_num
                    FROM v WHERE json_type(j) = 'OBJECT'
                )
                SELECT line, t AS text,
                       CASE WHEN src IS NULL OR dst IS NULL THEN 'packet without source or destination address'
                            WHEN stamp IS NULL OR (TRY_CAST(stamp AS TIMESTAMPTZ) IS NULL
                                                   AND TRY_CAST(stamp AS TIMESTAMP) IS NULL)
                                THEN 'packet without a valid timestamp'
                            WHEN (sport_text IS NOT NULL AND coalesce(TRY_CAST(sport_text AS BIGINT) NOT BETWEEN 0 AND 65535, true))
                              OR (dport_text IS NOT NULL AND coalesce(TRY_CAST(dport_text AS BIGINT) NOT BETWEEN 0 AND 65535, true))
                                THEN 'port out of range'
                       END AS problem,
                       CASE WHEN regexp_matches(stamp, '([Zz]|[+-]\\d\\d:?\\d\\d)$') THEN TRY_CAST(stamp AS TIMESTAMPTZ)
                            ELSE timezone({tz}, TRY_CAST(stamp AS TIMESTAMP)) END AS ts,
                       stamp AS ts_raw, NOT regexp_matches(stamp, '([Zz]|[+-]\\d\\d:?\\d\\d)$') AS ts_inferred,
                       coalesce({_get('dvc')}, {_get('oob.hostname')}) AS syslog_host,
                       src, dst, TRY_CAST(sport_text AS INTEGER) AS spt, TRY_CAST(dport_text AS INTEGER) AS dpt,
                       CASE proto_num WHEN '6' THEN 'TCP' WHEN '17' THEN 'UDP' WHEN '1' THEN 'ICMP'
                            WHEN '58' THEN 'ICMPv6' ELSE proto_num END AS proto,
                       TRY_CAST(coalesce({_get('ip.totlen')}, {_get('raw.pktlen')}) AS BIGINT) AS ip_len,
                       TRY_CAST({_get('ip.id')} AS BIGINT) AS ip_id, TRY_CAST({_get('ip.ttl')} AS BIGINT) AS ttl,
                       CASE WHEN proto_num = '6' THEN concat_ws(' ', {flags}) END AS tcp_flags,
                       nullif(trim({_get('oob.prefix')}), '') AS prefix,
                       nullif({_get('oob.in')}, '') AS in_if, nullif({_get('oob.out')}, '') AS out_if,
                       TRY_CAST({_get('icmp.type')} AS BIGINT) AS icmp_type,
                       TRY_CAST({_get('icmp.code')} AS BIGINT) AS icmp_code,
                       TRY_CAST({_get('oob.uid')} AS BIGINT) AS uid, TRY_CAST({_get('oob.gid')} AS BIGINT) AS gid
                FROM r""").to_arrow_table()
            invalid = con.sql(f"""SELECT 'line:' || line AS locator, 'not a JSON object (truncated or corrupt line)'
                                  AS reason, t AS excerpt FROM (SELECT line, t, CASE WHEN json_valid(t) THEN t END AS j
                                  FROM (SELECT line, {TEXT} AS t FROM _ulogd_lines))
                                  WHERE json_type(j) IS DISTINCT FROM 'OBJECT'""").to_arrow_table()
            if invalid.num_rows:
                ctx.warn_many(invalid)
            _ulogd_staged = staged  # noqa: F841  (read by name)
            ctx.warn_many(con.sql("SELECT 'line:' || line AS locator, problem AS reason, text AS excerpt "
                          "FROM _ulogd_staged WHERE problem IS NOT NULL").to_arrow_table())
            good = con.sql("SELECT * EXCLUDE (problem, text) FROM _ulogd_staged WHERE problem IS NULL").to_arrow_table()
            if good.num_rows:
                names = good.column("syslog_host").to_pylist()
                good = good.append_column("host", pa.array([hosts.resolve(n) for n in names], type=pa.string()))
                good = good.append_column("action", actions_for(good.column("prefix").combine_chunks()))
                writer.insert(good, """
                    SELECT ts, ts_raw, ts_inferred, host, src AS src_ip, spt AS src_port, dst AS dst_ip, dpt AS dst_port,
                           lower(proto) AS proto, action, ip_len AS bytes_out, 1 AS packets_out,
                           nullif(tcp_flags, '') AS tcp_flags, prefix AS rule, 'line:' || line AS locator,
                           hash(host, src, dst, spt, dpt, upper(proto), ip_len, ip_id, nullif(tcp_flags, ''), prefix,
                                in_if, out_if, icmp_type, icmp_code) AS dedup_key,
                           json_object('in', in_if, 'out', out_if, 'ttl', ttl, 'ip_id', ip_id, 'icmp_type', icmp_type,
                                       'icmp_code', icmp_code, 'uid', uid, 'gid', gid, 'syslog_host', syslog_host) AS extra
                    FROM v""")
            ctx.advance(nread)
    writer.deduplicate()


register(Parser(
    name=NAME,
    description="ulogd2 JSON packet logs (NFLOG): ulogd and CIM key names",
    tables=("net_events",),
    sniff=sniff,
    parse=parse,
    version="1",
    extensions=(".json",),
))
