"""VPC flow-log records (AWS, and Alibaba's that mirror them) to ``net_events``, in SQL.

A flow-log record describes one direction of one connection through one network interface during
one aggregation window (AWS: 1 or 10 minutes; Alibaba: about 10 minutes): ``packets``/``bytes``
went from ``srcaddr`` to ``dstaddr`` in that window. So each record becomes one ``net_events`` row
with ``bytes_out``/``packets_out`` and no reverse counters (the reply is its own record), and
nothing is summed across windows or sources. ``action`` ACCEPT/REJECT becomes allow/deny;
``log-status`` NODATA (no traffic) and SKIPDATA (records lost) rows are kept, without addresses,
with the status as ``label``: a gap in flow logs is not evidence of no traffic.

Field names are the AWS ones; Alibaba's (``eni-id``, ``vswitch-id``, ``vm-id``, ``direction``)
are aliases. :func:`record_select` maps any relation whose columns carry these names.
"""

from __future__ import annotations

# Documented order of the AWS default (v2) format and of "all fields" custom formats without a
# header: v2, then the v3, v4, v5, v7 and v8 additions.
AWS_ORDER = (
    "version", "account-id", "interface-id", "srcaddr", "dstaddr", "srcport", "dstport", "protocol", "packets",
    "bytes", "start", "end", "action", "log-status",
    "vpc-id", "subnet-id", "instance-id", "tcp-flags", "type", "pkt-srcaddr", "pkt-dstaddr",
    "region", "az-id", "sublocation-type", "sublocation-id",
    "pkt-src-aws-service", "pkt-dst-aws-service", "flow-direction", "traffic-path",
    "ecs-cluster-arn", "ecs-cluster-name", "ecs-container-instance-arn", "ecs-container-instance-id",
    "ecs-container-id", "ecs-second-container-id", "ecs-service-name", "ecs-task-definition-arn", "ecs-task-arn",
    "ecs-task-id",
    "reject-reason",
)
# Field counts of header-less records that follow the documented order.
KNOWN_WIDTHS = (14, 21, 25, 29, 39, 40)
ALIASES = {
    "eni-id": "interface-id", "vswitch-id": "subnet-id", "vm-id": "instance-id", "direction": "flow-direction",
    "account_id": "account-id", "interface_id": "interface-id", "log_status": "log-status",
    "tcp_flags": "tcp-flags", "vpc_id": "vpc-id", "subnet_id": "subnet-id", "instance_id": "instance-id",
    "pkt_srcaddr": "pkt-srcaddr", "pkt_dstaddr": "pkt-dstaddr", "flow_direction": "flow-direction",
    "traffic_path": "traffic-path", "reject_reason": "reject-reason", "vswitch_id": "subnet-id",
    "vm_id": "instance-id", "eni_id": "interface-id",
}
KNOWN_FIELDS = set(AWS_ORDER) | set(ALIASES) | {"resource-id", "encryption-status", "srctype", "dsttype"}
EXTRA_FIELDS = ("account-id", "interface-id", "instance-id", "vpc-id", "subnet-id", "type",
                "pkt-srcaddr", "pkt-dstaddr", "region", "az-id", "flow-direction", "traffic-path",
                "pkt-src-aws-service", "pkt-dst-aws-service", "reject-reason", "ecs-cluster-name",
                "ecs-service-name", "ecs-task-id", "ecs-container-id", "log-status")

PROTOCOL_NAMES = "CASE {p} WHEN '6' THEN 'tcp' WHEN '17' THEN 'udp' WHEN '1' THEN 'icmp' WHEN '58' THEN 'icmpv6' " \
    "WHEN '47' THEN 'gre' WHEN '50' THEN 'esp' WHEN '51' THEN 'ah' WHEN '132' THEN 'sctp' ELSE {p} END"


def canonical(name: str) -> str:
    name = name.strip().lstrip("$").strip("{}").strip()
    return ALIASES.get(name, name)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def tcp_flag_names(expr: str) -> str:
    """The TCP flags bitmask of a flow-log record as names (SYN, SYN ACK ...), as netfilter logs them."""
    bits = [(2, "SYN"), (16, "ACK"), (1, "FIN"), (4, "RST"), (8, "PSH"), (32, "URG")]
    parts = ", ".join(f"CASE WHEN ({expr} & {bit}) <> 0 THEN '{name}' END" for bit, name in bits)
    return f"CASE WHEN {expr} IS NULL THEN NULL ELSE nullif(concat_ws(' ', {parts}), '') END"


STATUSES = ("OK", "NODATA", "SKIPDATA")
ACTIONS = ("ACCEPT", "REJECT")


def _upper(expr: str, usual: tuple[str, ...]) -> str:
    """``upper(expr)``, skipped for the usual values (upper-casing every row costs as much as
    splitting it)."""
    listed = ", ".join(f"'{v}'" for v in usual)
    return f"CASE WHEN {expr} IN ({listed}) THEN {expr} ELSE upper({expr}) END"


def record_select(columns: dict[str, str], locator: str, text: str, pre_problem: str | None = None) -> str:
    """A SELECT over relation ``r`` turning flow-log fields into net_events rows plus a ``problem``
    column. ``columns`` maps canonical field names to SQL expressions over ``r`` (already NULL
    for '-'); ``locator`` and ``text`` are SQL expressions for the locator and the raw record;
    ``pre_problem`` an SQL expression for a problem found before (NULL when none)."""

    def col(name: str) -> str:
        return columns.get(name, "NULL::VARCHAR")

    # only the fields a record has, and log-status only when it is not OK (NODATA/SKIPDATA are
    # also the label); written as text (json_object would also write every missing field as null)
    parts = [f"CASE WHEN {col(name)} IS NOT NULL THEN '\"{name}\":' || to_json({col(name)}) END"
             for name in EXTRA_FIELDS if name in columns and name != "log-status"]
    if "log-status" in columns:
        parts.append(f"CASE WHEN f_status <> 'OK' THEN '\"log-status\":' || to_json({col('log-status')}) END")
    extra_sql = f"('{{' || concat_ws(',', {', '.join(parts)}) || '}}')::JSON" if parts else "NULL::JSON"
    return f"""
WITH typed AS (
    SELECT r.*, {col('srcaddr')} AS f_src, {col('dstaddr')} AS f_dst,
           TRY_CAST({col('srcport')} AS BIGINT) AS f_sport, TRY_CAST({col('dstport')} AS BIGINT) AS f_dport,
           {col('srcport')} AS f_sport_text, {col('dstport')} AS f_dport_text,
           TRY_CAST({col('start')} AS BIGINT) AS f_start, TRY_CAST({col('end')} AS BIGINT) AS f_end,
           TRY_CAST({col('packets')} AS BIGINT) AS f_packets, TRY_CAST({col('bytes')} AS BIGINT) AS f_bytes,
           {_upper(col('log-status'), STATUSES)} AS f_status, {_upper(col('action'), ACTIONS)} AS f_action,
           TRY_CAST({col('tcp-flags')} AS INTEGER) AS f_flags, {col('protocol')} AS f_proto,
           {col('start')} AS f_start_text, {pre_problem or 'NULL::VARCHAR'} AS f_pre_problem
    FROM r
)
SELECT {locator} AS locator, {text} AS text,
       CASE WHEN f_pre_problem IS NOT NULL THEN f_pre_problem
            WHEN f_start IS NULL THEN 'record without a start time in Unix seconds'
            WHEN f_start < 0 OR f_start > 32503680000 OR (f_end IS NOT NULL AND f_end < f_start)
                THEN 'impossible start/end time'
            WHEN coalesce(f_status, 'OK') = 'OK' AND (f_src IS NULL OR f_dst IS NULL)
                THEN 'record without srcaddr/dstaddr'
            WHEN (f_sport_text IS NOT NULL AND (f_sport IS NULL OR f_sport < 0 OR f_sport > 65535))
              OR (f_dport_text IS NOT NULL AND (f_dport IS NULL OR f_dport < 0 OR f_dport > 65535))
                THEN 'port out of range'
            WHEN (f_src IS NOT NULL AND NOT regexp_full_match(f_src, '[0-9A-Fa-f:.]+'))
              OR (f_dst IS NOT NULL AND NOT regexp_full_match(f_dst, '[0-9A-Fa-f:.]+'))
                THEN 'srcaddr/dstaddr is not an address'
       END AS problem,
       to_timestamp(f_start) AS ts, to_timestamp(f_end) AS ts_end, f_start_text AS ts_raw, false AS ts_inferred,
       f_src AS src_ip, f_sport::INTEGER AS src_port, f_dst AS dst_ip, f_dport::INTEGER AS dst_port,
       {PROTOCOL_NAMES.format(p='f_proto')} AS proto,
       CASE f_action WHEN 'ACCEPT' THEN 'allow' WHEN 'REJECT' THEN 'deny' END AS action,
       f_bytes AS bytes_out, f_packets AS packets_out,
       {tcp_flag_names('f_flags')} AS tcp_flags,
       coalesce({col('reject-reason')}, CASE WHEN f_status IN ('NODATA', 'SKIPDATA') THEN f_status END) AS label,
       hash({text}) AS dedup_key,
       {extra_sql} AS extra
FROM typed
"""
