"""Alibaba Cloud VPC flow logs exported from SLS as JSON lines (``__topic__`` ``flow_log``; every
value a string): ``version, vswitch-id, vm-id, vpc-id, account-id, eni-id, srcaddr, srcport,
dstaddr, dstport, protocol, direction, packets, bytes, start, end, log-status, action,
tcp-flags, traffic_path``. The names mirror AWS's on purpose, and the mapping to ``net_events``
is the AWS one (:mod:`forensics.firewall.flowlog`): one row per record and window, ``bytes`` and
``packets`` from source to destination, ACCEPT/REJECT as allow/deny, NODATA/SKIPDATA kept as
labels. Flow logs written as text go through ``aws_vpcflow``.
"""

from __future__ import annotations

from forensics.context import ParseContext
from forensics.firewall.flowlog import ALIASES, AWS_ORDER, record_select
from forensics.firewall.jsonlines import TEXT, iter_line_tables
from forensics.firewall.sink import NetEventWriter
from forensics.registry import Parser, Sniff, register

NAME = "alibaba_vpcflow"


def sniff(s: Sniff) -> float:
    head = s.text[:8192]
    if not head.lstrip().startswith("{"):
        return 0.0
    keys = ('"srcaddr"', '"dstaddr"', '"log-status"', '"start"')
    if all(k in head for k in keys) and ('"eni-id"' in head or '"vswitch-id"' in head or '"flow_log"' in head):
        return 0.9
    return 0.0


def parse(ctx: ParseContext) -> None:
    writer = NetEventWriter(ctx, NAME, family=(NAME,))
    con = ctx.con
    names = set(AWS_ORDER) | set(ALIASES)
    columns: dict[str, str] = {}
    for name in sorted(names):
        canonical = ALIASES.get(name, name)
        expr = f"nullif(nullif(json_extract_string(j, '$.\"{name}\"'), '-'), '')"
        columns[canonical] = f"coalesce({columns[canonical]}, {expr})" if canonical in columns else expr
    select = record_select(columns, "'line:' || line", "t")
    with ctx.open() as handle:
        for table, nread in iter_line_tables(handle):
            _vpcjson_lines = table  # noqa: F841  (read by name)
            staged = con.sql(f"""
                WITH v AS (SELECT line, t, CASE WHEN json_valid(t) THEN t END AS valid FROM
                               (SELECT line, {TEXT} AS t FROM _vpcjson_lines)),
                r AS (SELECT line, t, CASE WHEN json_type(valid) = 'OBJECT' THEN valid END AS j FROM v)
                {select.replace('WITH typed AS', ', typed AS', 1).replace('FROM r', 'FROM r WHERE j IS NOT NULL', 1)}
            """).to_arrow_table()
            invalid = con.sql(f"""SELECT 'line:' || line AS locator, 'not a JSON object (truncated or corrupt line)'
                                  AS reason, t AS excerpt
                                  FROM (SELECT line, t, CASE WHEN json_valid(t) THEN t END AS valid
                                        FROM (SELECT line, {TEXT} AS t FROM _vpcjson_lines))
                                  WHERE json_type(valid) IS DISTINCT FROM 'OBJECT'""").to_arrow_table()
            if invalid.num_rows:
                ctx.warn_many(invalid)
            _vpcjson_staged = staged  # noqa: F841  (read by name)
            ctx.warn_many(con.sql("SELECT locator, problem AS reason, text AS excerpt FROM _vpcjson_staged "
                          "WHERE problem IS NOT NULL").to_arrow_table())
            good = con.sql("SELECT * EXCLUDE (problem, text) FROM _vpcjson_staged WHERE problem IS NULL"
                           ).to_arrow_table()
            if good.num_rows:
                writer.insert(good, host_from_addresses=True)
            ctx.advance(nread)
    writer.deduplicate()


register(Parser(
    name=NAME,
    description="Alibaba Cloud VPC flow logs exported from SLS as JSON lines",
    tables=("net_events",),
    sniff=sniff,
    parse=parse,
    version="1",
    extensions=(".json",),
))
