"""From tshark's per-frame TSV to connections, in DuckDB.

tshark's output arrives in segments (pieces of a run's TSV; several runs for an editcap-split
capture). Each segment is loaded once and reduced right away, so memory holds summaries rather
than packets. In the SQL below a segment is called a "chunk":

* ``parts``: one row per connection *piece* in a chunk (a TCP stream as tshark numbers it, or a
  UDP/ICMP 5-tuple split on 60 s of silence, Zeek's inactivity timeout), with per-side counts,
  sequence-number extents and the frame of the first occurrence of each history letter. Sides
  are the canonical ``lo``/``hi`` endpoints, so pieces of one connection in different chunks add
  up whatever their first packet was.
* ``spk``: the packets of candidate streams (an ``SSH-`` banner, or JSON-RPC-looking payload),
  with sizes, flags and, where needed, payload for our own reassembly.
* ``dns``, ``tls``, ``http`` messages as tshark dissected them.

After the last chunk, :func:`stitch_sql` joins pieces across chunks into connections (a later piece
continues the last one of the same 5-tuple in an earlier chunk unless it starts with a SYN, or for
UDP/ICMP after more than 60 s of silence) and derives Zeek's ``conn_state`` and ``history``.
"""

from __future__ import annotations

from .tshark import COLUMNS

# Ports Zeek treats as "likely server ports" when a connection is seen without its SYN (it
# flips the direction so the server is the responder): below 1024 plus the tunnels and services
# it has analyzers for.
LIKELY_SERVER_PORTS = (1080, 1194, 1433, 1521, 2152, 3128, 3306, 3544, 4789, 5072, 5432, 6081,
                       6379, 6443, 8080, 8443, 9200, 27017)

# tshark protocol names -> Zeek service names.
SERVICE_NAMES = {
    "tls": "ssl", "ssl": "ssl", "http": "http", "dns": "dns", "nbns": "dns", "mdns": "dns",
    "llmnr": "dns", "ntp": "ntp", "dhcp": "dhcp", "bootp": "dhcp", "vxlan": "vxlan",
    "geneve": "geneve", "teredo": "teredo", "ayiya": "ayiya", "gtp": "gtpv1", "smtp": "smtp",
    "ftp": "ftp", "irc": "irc", "socks": "socks", "rdp": "rdp", "mysql": "mysql", "snmp": "snmp",
    "sip": "sip", "kerberos": "krb", "ldap": "ldap", "smb": "smb", "smb2": "smb", "quic": "quic",
    "radius": "radius", "mqtt": "mqtt", "syslog": "syslog", "pop": "pop3", "imap": "imap",
    "dcerpc": "dce_rpc", "rfb": "rfb", "xmpp": "xmpp", "telnet": "telnet", "pgsql": "postgresql",
    "redis": "redis", "openvpn": "openvpn", "wg": "wireguard",
}

UDP_TUNNELS = ("vxlan", "geneve", "teredo", "ayiya", "gtp")

# A SYN after this much silence starts a new connection of the same 5-tuple (Zeek's
# tcp_inactivity_timeout); closer SYNs are retransmissions of the same attempt.
TCP_ATTEMPT_GAP_S = 300

_REJECTS_LIMIT = 100_000


def _sql_list(values) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


def _field(column: str, index: str) -> str:
    """Occurrence ``index`` (1-based) of a multi-occurrence field."""
    return f"string_split({column}, chr(31))[{index}]"


def load_sql(p: str, tsv: str, chunk: int, frame_offset: int, max_line: int) -> str:
    columns = "{" + ", ".join(f"'{c}': 'VARCHAR'" for c in COLUMNS) + "}"
    return f"""
CREATE OR REPLACE TEMP TABLE {p}_raw AS
SELECT * FROM read_csv({tsv}, columns={columns}, delim='\t', quote='', escape='', header=false,
    auto_detect=false, null_padding=true, ignore_errors=true, store_rejects=true,
    rejects_table='{p}_rej{chunk}', rejects_scan='{p}_rejscan{chunk}', rejects_limit={_REJECTS_LIMIT},
    max_line_size={max_line}, buffer_size={max_line * 2}, new_line='\\n', parallel=false)
"""


def packets_sql(p: str, frame_offset: int) -> str:
    """One row per transport-layer packet: the innermost TCP/UDP/ICMP not quoted by an ICMP
    error, with the IP layer right above it; plus the outer UDP of UDP tunnels (VXLAN, Geneve,
    Teredo, AYIYA), which Zeek logs as connections of their own."""
    tunnels = _sql_list(UDP_TUNNELS)
    ip_src = f"CASE l3 WHEN 'ip' THEN {_field('ip_src', 'ipocc')} ELSE {_field('ip6_src', 'ipocc')} END"
    ip_dst = f"CASE l3 WHEN 'ip' THEN {_field('ip_dst', 'ipocc')} ELSE {_field('ip6_dst', 'ipocc')} END"
    ip_bytes = (f"CASE l3 WHEN 'ip' THEN TRY_CAST({_field('ip_len', 'ipocc')} AS INTEGER) "
                f"ELSE TRY_CAST({_field('ip6_plen', 'ipocc')} AS INTEGER) + 40 END")
    # The layer positions depend only on the frame's protocol stack, and a capture has few
    # distinct stacks: the list work runs once per stack, joined back to the frames.
    return f"""
CREATE OR REPLACE TEMP TABLE {p}_pk AS
WITH a AS (
    SELECT protocols, string_split(protocols, ':') AS pl FROM (SELECT DISTINCT protocols FROM {p}_raw)
    WHERE protocols IS NOT NULL
), b AS (
    SELECT a.*, pl[1:coalesce(list_position(list_transform(pl, lambda x: x IN ('icmp', 'icmpv6')), true),
                              len(pl))] AS cl
    FROM a
), c AS (
    SELECT b.*, list_max(list_filter(range(1, len(cl) + 1),
                                     lambda i: cl[i] IN ('tcp', 'udp', 'icmp', 'icmpv6'))) AS tpos,
           list_min(list_filter(range(1, len(cl) + 1), lambda i: cl[i] = 'udp')) AS outer_udp_pos,
           len(list_filter(cl, lambda x: x IN {tunnels})) > 0 AS in_udp_tunnel
    FROM b
), layers AS (
    -- the innermost transport
    SELECT c.*, tpos AS lpos, false AS is_outer, pl[tpos + 1] AS app FROM c WHERE tpos IS NOT NULL
    UNION ALL
    -- the outer UDP of a UDP tunnel
    SELECT c.*, outer_udp_pos, true, pl[outer_udp_pos + 1] FROM c
    WHERE in_udp_tunnel AND outer_udp_pos IS NOT NULL AND outer_udp_pos < tpos
), d AS (
    SELECT layers.*, cl[lpos] AS l4,
           list_max(list_filter(range(1, lpos), lambda i: cl[i] IN ('ip', 'ipv6'))) AS ippos
    FROM layers
), stacks AS (
    SELECT protocols, is_outer, app, l4, cl[ippos] AS l3,
           len(list_filter(cl[1:ippos], lambda x: x = cl[ippos])) AS ipocc,
           len(list_filter(cl[1:lpos], lambda x: x = cl[lpos])) AS tocc,
           -- IPv6 extension headers between the IP layer and the transport (hop-by-hop options
           -- before MLD, typically 8 bytes each)
           len(list_filter(cl[ippos + 1:lpos - 1], lambda x: starts_with(x, 'ipv6.'))) AS ext_headers
    FROM d WHERE ippos IS NOT NULL
), e AS (
    SELECT r.*, TRY_CAST(r.frame AS BIGINT) + {frame_offset} AS gframe, k.is_outer, k.app, k.l4, k.l3,
           k.ipocc, k.tocc, k.ext_headers
    FROM {p}_raw r JOIN stacks k ON k.protocols = r.protocols
), f AS (
    SELECT gframe AS frame, TRY_CAST(ts AS DOUBLE) AS ts, l4 AS proto, is_outer, app,
           {ip_src} AS src, {ip_dst} AS dst, {ip_bytes} AS ip_bytes,
           CASE l4 WHEN 'tcp' THEN TRY_CAST({_field('tcp_sport', 'tocc')} AS INTEGER)
                   WHEN 'udp' THEN TRY_CAST({_field('udp_sport', 'tocc')} AS INTEGER) END AS sport,
           CASE l4 WHEN 'tcp' THEN TRY_CAST({_field('tcp_dport', 'tocc')} AS INTEGER)
                   WHEN 'udp' THEN TRY_CAST({_field('udp_dport', 'tocc')} AS INTEGER) END AS dport,
           CASE l4 WHEN 'icmp' THEN TRY_CAST({_field('icmp_type', '1')} AS INTEGER)
                   WHEN 'icmpv6' THEN TRY_CAST({_field('icmp6_type', '1')} AS INTEGER) END AS icmp_type,
           CASE l4 WHEN 'icmp' THEN TRY_CAST({_field('icmp_code', '1')} AS INTEGER)
                   WHEN 'icmpv6' THEN TRY_CAST({_field('icmp6_code', '1')} AS INTEGER) END AS icmp_code,
           CASE WHEN l4 = 'tcp' THEN TRY_CAST({_field('tcp_stream', 'tocc')} AS BIGINT) END AS tcp_stream,
           CASE WHEN l4 = 'tcp' THEN coalesce(TRY_CAST({_field('tcp_flags', 'tocc')} AS INTEGER), 0) END AS flags,
           CASE WHEN l4 = 'tcp' THEN TRY_CAST({_field('tcp_seq', 'tocc')} AS BIGINT) END AS seq,
           CASE l4 WHEN 'tcp' THEN coalesce(TRY_CAST({_field('tcp_len', 'tocc')} AS INTEGER), 0)
                   WHEN 'udp' THEN greatest(coalesce(TRY_CAST({_field('udp_len', 'tocc')} AS INTEGER), 8) - 8, 0)
                   END AS udp_tcp_len,
           l4 = 'tcp' AND tcp_retrans IS NOT NULL AS retrans,
           NOT is_outer AND app IN ('dns', 'mdns', 'llmnr', 'nbns') AND dns_response IN ('1', 'True') AS dns_reply,
           CASE WHEN l4 = 'tcp' AND NOT is_outer THEN {_field('payload', '1')} END AS payload,
           l3, ext_headers
    FROM e
)
SELECT frame, ts, proto, is_outer, app, src, dst, ip_bytes, retrans, coalesce(dns_reply, false) AS dns_reply,
       -- what the payload looks like (the payload itself is read again only for candidate streams)
       {_payload_looks('payload')}, tcp_stream,
       coalesce(flags, 0) AS flags, seq,
       -- ICMP "ports" as Zeek has them: the type, and the counterpart type (or the code)
       CASE WHEN proto IN ('icmp', 'icmpv6') THEN icmp_type ELSE sport END AS sport,
       CASE WHEN proto = 'icmp' THEN coalesce(CASE icmp_type WHEN 8 THEN 0 WHEN 0 THEN 8 WHEN 13 THEN 14
                    WHEN 14 THEN 13 WHEN 15 THEN 16 WHEN 16 THEN 15 WHEN 17 THEN 18 WHEN 18 THEN 17
                    WHEN 10 THEN 9 WHEN 9 THEN 10 END, icmp_code)
            WHEN proto = 'icmpv6' THEN coalesce(CASE icmp_type WHEN 128 THEN 129 WHEN 129 THEN 128
                    WHEN 133 THEN 134 WHEN 134 THEN 133 WHEN 135 THEN 136 WHEN 136 THEN 135
                    WHEN 130 THEN 131 WHEN 131 THEN 130 WHEN 139 THEN 140 WHEN 140 THEN 139 END, icmp_code)
            ELSE dport END AS dport,
       CASE WHEN proto IN ('icmp', 'icmpv6')
            THEN greatest(ip_bytes - CASE l3 WHEN 'ip' THEN 20 ELSE 40 + 8 * ext_headers END - 8, 0)
            ELSE udp_tcp_len END AS len
FROM f
WHERE src IS NOT NULL AND dst IS NOT NULL
"""


def sides_sql(p: str) -> str:
    """Canonical sides and the piece each packet belongs to. Rows are narrow here (no payload):
    the window functions sort them, TCP by tshark's stream and UDP/ICMP by 5-tuple separately."""
    columns = ("frame, ts, proto, is_outer, app, src, dst, ip_bytes, retrans, dns_reply, tcp_stream, flags, seq, "
               "sport, dport, len, looks_ssh, looks_json, looks_http")
    return f"""
CREATE OR REPLACE TEMP TABLE {p}_ps AS
WITH s AS (
    SELECT {columns},
        (src < dst OR (src = dst AND coalesce(sport, 0) <= coalesce(dport, 0))) AS from_lo
    FROM {p}_pk
), t AS (
    SELECT *,
        CASE WHEN from_lo THEN src ELSE dst END AS lo_h, CASE WHEN from_lo THEN sport ELSE dport END AS lo_p,
        CASE WHEN from_lo THEN dst ELSE src END AS hi_h, CASE WHEN from_lo THEN dport ELSE sport END AS hi_p
    FROM s
), tcp AS (
    -- A TCP stream that was closed or reset and then idle for 5 s is over, and a SYN after 5
    -- minutes of silence opens a new attempt: later packets are a new connection (Zeek's
    -- tcp_close_delay / tcp_reset_delay and tcp_inactivity_timeout; tshark keeps a SYN with the
    -- same sequence number in the old stream).
    SELECT *, CASE WHEN ts - lag(ts) OVER w > 5
                        AND max(CASE WHEN (flags & 5) > 0 THEN frame END) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING
                                                                                 AND 1 PRECEDING) IS NOT NULL
                   THEN 1
                   WHEN (flags & 18) = 2 AND ts - lag(ts) OVER w > {TCP_ATTEMPT_GAP_S} THEN 1
                   ELSE 0 END AS gap,
              -- sequence numbers relative to the side's first packet in this segment (signed, mod 2^32)
              first_value(seq) OVER (PARTITION BY tcp_stream, from_lo ORDER BY frame) AS seq_base
    FROM t WHERE proto = 'tcp'
    WINDOW w AS (PARTITION BY tcp_stream ORDER BY frame)
), other AS (
    -- Zeek's inactivity timeouts: 1 min for UDP and ICMP, 10 s for DNS sessions
    SELECT *, CASE WHEN ts - lag(ts) OVER (PARTITION BY proto, lo_h, lo_p, hi_h, hi_p ORDER BY frame)
                        > CASE WHEN proto = 'udp' AND (lo_p IN (53, 137, 5353) OR hi_p IN (53, 137, 5353)) THEN 10 ELSE 60 END
                   THEN 1 ELSE 0 END AS gap,
              NULL::BIGINT AS seq_base
    FROM t WHERE proto <> 'tcp'
), k AS (
    SELECT *, 't' || tcp_stream || '|' || sum(gap) OVER (PARTITION BY tcp_stream ORDER BY frame
                                                        ROWS UNBOUNDED PRECEDING) AS part
    FROM tcp
    UNION ALL
    SELECT *, proto || '|' || lo_h || '|' || lo_p || '|' || hi_h || '|' || hi_p || '|' ||
              sum(gap) OVER (PARTITION BY proto, lo_h, lo_p, hi_h, hi_p ORDER BY frame ROWS UNBOUNDED PRECEDING)
    FROM other
)
SELECT *,
    CASE WHEN proto = 'tcp' THEN ((seq - seq_base + 2147483648) % 4294967296 + 4294967296) % 4294967296 - 2147483648
         END AS rel,
    (flags & 2) > 0 AND (flags & 16) = 0 AS is_syn,
    (flags & 18) = 18 AS is_synack,
    (flags & 1) > 0 AS is_fin,
    (flags & 4) > 0 AS is_rst,
    proto = 'tcp' AND (flags & 16) > 0 AND (flags & 7) = 0 AND len = 0 AS is_ack
FROM k
"""


_LETTERS = {  # history letter -> packet condition (Zeek: uppercase originator, lowercase responder)
    "S": "is_syn", "H": "is_synack", "A": "is_ack", "D": "len > 0", "F": "is_fin", "R": "is_rst",
    "T": "retrans AND len > 0",
}


def _likely_server(port: str) -> str:
    return f"({port} < 1024 OR {port} IN ({', '.join(str(x) for x in LIKELY_SERVER_PORTS)}))"


def parts_sql(p: str, chunk: int) -> str:
    letters = []
    for side, cond in (("lo", "from_lo"), ("hi", "NOT from_lo")):
        for letter, test in _LETTERS.items():
            letters.append(f"min(frame) FILTER (WHERE {cond} AND {test}) AS {side}_f{letter}")
    side_cols = []
    for side, cond in (("lo", "from_lo"), ("hi", "NOT from_lo")):
        side_cols += [
            f"count(*) FILTER (WHERE {cond}) AS {side}_pkts",
            f"coalesce(sum(ip_bytes) FILTER (WHERE {cond}), 0) AS {side}_ip_bytes",
            f"coalesce(sum(len) FILTER (WHERE {cond}), 0) AS {side}_len",
            f"coalesce(sum(len) FILTER (WHERE {cond} AND NOT retrans), 0) AS {side}_len_new",
            f"count(*) FILTER (WHERE {cond} AND retrans AND len > 0) AS {side}_retrans",
            f"any_value(seq_base) FILTER (WHERE {cond}) AS {side}_seq_base",
            f"min(rel) FILTER (WHERE {cond}) AS {side}_rel_min",
            f"max(rel + len) FILTER (WHERE {cond} AND len > 0) AS {side}_rel_end",
            f"bool_or(is_syn OR is_synack) FILTER (WHERE {cond}) AS {side}_syn_seen",
        ]
    return f"""
INSERT INTO {p}_parts
SELECT {chunk} AS chunk, part, any_value(proto) AS proto, any_value(lo_h) AS lo_h, any_value(lo_p) AS lo_p,
       any_value(hi_h) AS hi_h, any_value(hi_p) AS hi_p, bool_or(is_outer) AS is_outer,
       min(frame) AS first_frame, max(frame) AS last_frame, min(ts) AS first_ts,
       max(ts) AS last_ts,
       min(ts) FILTER (WHERE from_lo AND is_fin) AS lo_fin_ts, min(ts) FILTER (WHERE NOT from_lo AND is_fin) AS hi_fin_ts,
       min(ts) FILTER (WHERE is_rst) AS rst_ts,
       arg_min(from_lo, frame) AS first_from_lo, arg_min(is_syn, frame) AS first_is_syn,
       arg_min(is_synack, frame) AS first_is_synack, arg_min(dns_reply, frame) AS first_is_dns_reply,
       -- the first packet's ports, tested once per piece rather than on every packet
       {_likely_server('arg_min(sport, frame)')} AND NOT {_likely_server('arg_min(dport, frame)')}
           AS first_src_likely_server,
       {_likely_server('arg_min(dport, frame)')} AND NOT {_likely_server('arg_min(sport, frame)')}
           AS first_dst_likely_server,
       arg_min(app, frame) FILTER (WHERE app IS NOT NULL AND app NOT IN ('data', 'tcp.segments', '_ws.malformed',
                                   '_ws.short', '_ws.expert', 'json', 'data-text-lines')) AS app,
       {", ".join(side_cols)},
       {", ".join(letters)}
FROM {p}_ps
GROUP BY part
"""


# Hex prefixes: "SSH-"; a JSON object; HTTP request methods and responses.
_SSH_HEX = "5353482d"
_JSON_MARKERS = ("226d6574686f6422", "22726573756c7422", "226a736f6e72706322", "226572726f7222")  # "method" "result" "jsonrpc" "error"
_HTTP_STARTS = ("474554", "504f5354", "485454502f", "505554", "48454144", "434f4e4e454354")  # GET POST HTTP/ PUT HEAD CONNECT


def _payload_looks(column: str) -> str:
    """Per packet (hex payload): starts with an SSH banner; looks like JSON (starts with an object
    or carries a JSON-RPC key); starts like HTTP."""
    # one regular expression finds any of the markers in one pass over the payload (four
    # contains() calls read it four times)
    json_test = f"regexp_matches({column}, '{'|'.join(_JSON_MARKERS)}')"
    http_test = " OR ".join(f"starts_with({column}, '{m}')" for m in _HTTP_STARTS)
    return (f"coalesce(starts_with({column}, '{_SSH_HEX}'), false) AS looks_ssh, "
            # an object after leading whitespace bytes (space, tab, LF, CR)
            f"coalesce(regexp_matches({column}, '^(?:20|09|0a|0d)*7b') OR {json_test}, false) AS looks_json, "
            f"coalesce({http_test}, false) AS looks_http")


def stream_packets_sql(p: str, chunk: int, keep_bytes: int, frame_offset: int) -> str:
    """Packets of candidate TCP streams: SSH (a banner, or a piece that continues an SSH stream
    of an earlier chunk) and JSON-RPC. SSH streams keep payload for their first ``keep_bytes``
    per side (banner and key exchange); JSON-RPC streams keep all of it. The payload is read
    from the chunk's raw rows for these packets only."""
    return f"""
INSERT INTO {p}_spk
WITH flags AS (
    SELECT part, bool_or(looks_ssh) AS has_banner, bool_or(looks_json) AS has_json,
           bool_or(looks_http) AS has_http
    FROM {p}_ps WHERE proto = 'tcp' AND NOT is_outer
    GROUP BY part
), pieces AS (
    SELECT part, any_value(lo_h) AS lo_h, any_value(lo_p) AS lo_p, any_value(hi_h) AS hi_h, any_value(hi_p) AS hi_p,
           min(frame) AS first_frame, arg_min(is_syn, frame) AS starts_with_syn
    FROM {p}_ps WHERE proto = 'tcp' AND NOT is_outer GROUP BY part
), first_pieces AS (
    -- the first piece of its 5-tuple in this chunk, not opened by a SYN: it may continue a stream
    SELECT * FROM pieces QUALIFY row_number() OVER (PARTITION BY lo_h, lo_p, hi_h, hi_p ORDER BY first_frame) = 1
), candidates AS (
    SELECT c.part,
           coalesce(f.has_banner, false) OR (NOT c.starts_with_syn AND c.part IN (SELECT part FROM first_pieces)
               AND EXISTS (SELECT 1 FROM {p}_carry y WHERE y.kind = 'ssh' AND y.chunk < {chunk}
                           AND y.lo_h = c.lo_h AND y.lo_p = c.lo_p AND y.hi_h = c.hi_h AND y.hi_p = c.hi_p)) AS is_ssh,
           (coalesce(f.has_json, false) AND NOT coalesce(f.has_http, false))
               OR (NOT c.starts_with_syn AND c.part IN (SELECT part FROM first_pieces)
               AND EXISTS (SELECT 1 FROM {p}_carry y WHERE y.kind = 'json' AND y.chunk < {chunk}
                           AND y.lo_h = c.lo_h AND y.lo_p = c.lo_p AND y.hi_h = c.hi_h AND y.hi_p = c.hi_p)) AS is_json
    FROM pieces c LEFT JOIN flags f ON f.part = c.part
), kept AS (
    SELECT s.part, s.frame, s.ts, s.from_lo, s.flags, s.seq, s.len, c.is_ssh, c.is_json,
           c.is_json OR (c.is_ssh AND s.rel < {keep_bytes}) AS keep_payload
    FROM {p}_ps s JOIN candidates c ON c.part = s.part
    WHERE (c.is_ssh OR c.is_json) AND s.proto = 'tcp' AND NOT s.is_outer
), payloads AS (
    SELECT TRY_CAST(r.frame AS BIGINT) + {frame_offset} AS frame, {_field('r.payload', '1')} AS payload
    FROM {p}_raw r
    WHERE r.payload IS NOT NULL AND TRY_CAST(r.frame AS BIGINT) + {frame_offset} IN (SELECT frame FROM kept WHERE keep_payload)
)
SELECT {chunk} AS chunk, s.part, s.frame, s.ts, s.from_lo, s.flags, s.seq, s.len, s.is_ssh, s.is_json,
       CASE WHEN s.keep_payload THEN unhex(k.payload) END AS payload
FROM kept s LEFT JOIN payloads k ON k.frame = s.frame
"""


def carry_sql(p: str, chunk: int) -> str:
    """Remember which 5-tuples are SSH or JSON-RPC streams, for the next chunk's pieces."""
    return f"""
INSERT INTO {p}_carry
SELECT DISTINCT {chunk} AS chunk, CASE WHEN s.is_ssh THEN 'ssh' ELSE 'json' END AS kind,
       t.lo_h, t.lo_p, t.hi_h, t.hi_p
FROM {p}_spk s JOIN {p}_parts t ON t.chunk = s.chunk AND t.part = s.part
WHERE s.chunk = {chunk}
"""


def app_messages_sql(p: str, chunk: int, frame_offset: int) -> list[str]:
    """DNS, TLS and HTTP messages of this chunk, keyed by piece (joined to connections later).
    Only the application layer right above the transport counts: a DNS query quoted inside an
    ICMP error is not a DNS message."""
    join = (f"FROM {p}_ps s JOIN {p}_raw r ON TRY_CAST(r.frame AS BIGINT) + {frame_offset} = s.frame "
            f"AND NOT s.is_outer")
    first = lambda col: f"string_split(r.{col}, chr(31))[1]"  # noqa: E731
    flag = lambda col: f"coalesce(r.{col} IN ('1', 'True'), false)"  # noqa: E731
    dns = f"""
INSERT INTO {p}_dns
SELECT {chunk} AS chunk, s.part, s.frame, s.ts, s.from_lo, s.proto,
       TRY_CAST(r.dns_id AS INTEGER) AS trans_id, {flag('dns_response')} AS is_response,
       TRY_CAST(r.dns_opcode AS INTEGER) AS opcode, TRY_CAST(r.dns_rcode AS INTEGER) AS rcode,
       {flag('dns_aa')} AS aa, {flag('dns_tc')} AS tc, {flag('dns_rd')} AS rd, {flag('dns_ra')} AS ra,
       {first('dns_qname')} AS query, TRY_CAST({first('dns_qtype')} AS INTEGER) AS qtype,
       TRY_CAST({first('dns_qclass')} AS INTEGER) AS qclass,
       TRY_CAST(r.dns_n_answers AS INTEGER) AS n_answers,
       string_split(r.dns_rr_type, chr(31)) AS rr_types, string_split(r.dns_rr_ttl, chr(31)) AS rr_ttls,
       string_split(r.dns_a, chr(31)) AS v_a, string_split(r.dns_aaaa, chr(31)) AS v_aaaa,
       string_split(r.dns_cname, chr(31)) AS v_cname, string_split(r.dns_ptr, chr(31)) AS v_ptr,
       string_split(r.dns_ns, chr(31)) AS v_ns, string_split(r.dns_mx, chr(31)) AS v_mx,
       string_split(r.dns_txt, chr(31)) AS v_txt
{join}
WHERE s.app IN ('dns', 'mdns', 'llmnr', 'nbns') AND r.dns_id IS NOT NULL
"""
    tls = f"""
INSERT INTO {p}_tls
SELECT {chunk} AS chunk, s.part, s.frame, s.ts, s.from_lo,
       {first('tls_sni')} AS server_name, {first('tls_ja3')} AS ja3, {first('tls_ja3s')} AS ja3s,
       {first('tls_version')} AS handshake_version,
       list_max(string_split(r.tls_supported_version, chr(31))) AS supported_version
{join}
WHERE s.app = 'tls' AND (r.tls_ja3 IS NOT NULL OR r.tls_ja3s IS NOT NULL OR r.tls_sni IS NOT NULL)
"""
    http = f"""
INSERT INTO {p}_http
SELECT {chunk} AS chunk, s.part, s.frame, s.ts, s.from_lo,
       {first('http_method')} AS method, {first('http_host')} AS host_header, {first('http_uri')} AS uri,
       {first('http_user_agent')} AS user_agent, TRY_CAST({first('http_status')} AS INTEGER) AS status_code,
       CASE WHEN regexp_matches(r.http_body, '^\\s*[\\[{{]') THEN left(r.http_body, 1000000) END AS body
{join}
WHERE s.app = 'http' AND (r.http_method IS NOT NULL OR r.http_status IS NOT NULL)
"""
    return [dns, tls, http]


def create_sql(p: str) -> list[str]:
    """The staging tables of one capture (temporary: gone with the connection)."""
    letters = []
    for side in ("lo", "hi"):
        letters += [f"{side}_f{letter} BIGINT" for letter in _LETTERS]
    side_cols = []
    for side in ("lo", "hi"):
        side_cols += [f"{side}_pkts BIGINT", f"{side}_ip_bytes BIGINT", f"{side}_len BIGINT",
                      f"{side}_len_new BIGINT", f"{side}_retrans BIGINT", f"{side}_seq_base BIGINT",
                      f"{side}_rel_min BIGINT", f"{side}_rel_end BIGINT", f"{side}_syn_seen BOOLEAN"]
    return [
        f"""CREATE TEMP TABLE {p}_parts (chunk INTEGER, part VARCHAR, proto VARCHAR, lo_h VARCHAR, lo_p INTEGER,
            hi_h VARCHAR, hi_p INTEGER, is_outer BOOLEAN, first_frame BIGINT, last_frame BIGINT,
            first_ts DOUBLE, last_ts DOUBLE, lo_fin_ts DOUBLE, hi_fin_ts DOUBLE, rst_ts DOUBLE, first_from_lo BOOLEAN, first_is_syn BOOLEAN,
            first_is_synack BOOLEAN, first_is_dns_reply BOOLEAN, first_src_likely_server BOOLEAN, first_dst_likely_server BOOLEAN,
            app VARCHAR, {", ".join(side_cols)}, {", ".join(letters)})""",
        f"""CREATE TEMP TABLE {p}_spk (chunk INTEGER, part VARCHAR, frame BIGINT, ts DOUBLE, from_lo BOOLEAN,
            flags INTEGER, seq BIGINT, len INTEGER, is_ssh BOOLEAN, is_json BOOLEAN, payload BLOB)""",
        f"""CREATE TEMP TABLE {p}_carry (chunk INTEGER, kind VARCHAR, lo_h VARCHAR, lo_p INTEGER,
            hi_h VARCHAR, hi_p INTEGER)""",
        f"""CREATE TEMP TABLE {p}_dns (chunk INTEGER, part VARCHAR, frame BIGINT, ts DOUBLE, from_lo BOOLEAN,
            proto VARCHAR, trans_id INTEGER, is_response BOOLEAN, opcode INTEGER, rcode INTEGER, aa BOOLEAN,
            tc BOOLEAN, rd BOOLEAN, ra BOOLEAN, query VARCHAR, qtype INTEGER, qclass INTEGER,
            n_answers INTEGER, rr_types VARCHAR[], rr_ttls VARCHAR[], v_a VARCHAR[], v_aaaa VARCHAR[],
            v_cname VARCHAR[], v_ptr VARCHAR[], v_ns VARCHAR[], v_mx VARCHAR[], v_txt VARCHAR[])""",
        f"""CREATE TEMP TABLE {p}_tls (chunk INTEGER, part VARCHAR, frame BIGINT, ts DOUBLE, from_lo BOOLEAN,
            server_name VARCHAR, ja3 VARCHAR, ja3s VARCHAR, handshake_version VARCHAR,
            supported_version VARCHAR)""",
        f"""CREATE TEMP TABLE {p}_http (chunk INTEGER, part VARCHAR, frame BIGINT, ts DOUBLE, from_lo BOOLEAN,
            method VARCHAR, host_header VARCHAR, uri VARCHAR, user_agent VARCHAR, status_code INTEGER,
            body VARCHAR)""",
    ]


def drop_sql(p: str, chunks: int) -> list[str]:
    names = ["raw", "pk", "ps", "parts", "spk", "carry", "dns", "tls", "http", "conn", "map"]
    drops = [f"DROP TABLE IF EXISTS {p}_{n}" for n in names]
    for chunk in range(chunks):
        drops += [f"DROP TABLE IF EXISTS {p}_rej{chunk}", f"DROP TABLE IF EXISTS {p}_rejscan{chunk}"]
    return drops


def _signed(expr: str) -> str:
    return f"((({expr}) + 2147483648) % 4294967296 + 4294967296) % 4294967296 - 2147483648"


def stitch_sql(p: str, evidence_key: str) -> list[str]:
    """Pieces -> connections (``{p}_map``: piece to uid) and one row per connection (``{p}_conn``)
    with orig/resp assigned, bytes, history and conn_state."""
    tuple_cols = "proto, lo_h, lo_p, hi_h, hi_p"
    mapping = f"""
CREATE OR REPLACE TEMP TABLE {p}_map AS
WITH o AS (
    SELECT *, row_number() OVER (PARTITION BY chunk, {tuple_cols} ORDER BY first_frame) AS rn,
           count(*) OVER (PARTITION BY chunk, {tuple_cols}) AS n_in_chunk
    FROM {p}_parts
), l AS (
    SELECT *, lag(chunk) OVER w AS prev_chunk, lag(rn = n_in_chunk) OVER w AS prev_was_last,
           lag(last_ts) OVER w AS prev_last_ts,
           lag(coalesce(lo_fF, hi_fF, lo_fR, hi_fR) IS NOT NULL) OVER w AS prev_closed
    FROM o WINDOW w AS (PARTITION BY {tuple_cols} ORDER BY first_frame)
), m AS (
    SELECT *, CASE WHEN prev_chunk < chunk AND prev_was_last AND rn = 1
                    AND CASE WHEN proto = 'tcp' THEN NOT first_is_syn
                                  OR (first_ts - prev_last_ts <= {TCP_ATTEMPT_GAP_S} AND NOT prev_closed)
                             WHEN proto = 'udp' AND (lo_p IN (53, 137, 5353) OR hi_p IN (53, 137, 5353))
                             THEN first_ts - prev_last_ts <= 10
                             ELSE first_ts - prev_last_ts <= 60 END
                   THEN 0 ELSE 1 END AS starts
    FROM l
), n AS (
    SELECT *, sum(starts) OVER (PARTITION BY {tuple_cols} ORDER BY first_frame ROWS UNBOUNDED PRECEDING) AS conn_no
    FROM m
)
SELECT n.*,
    'C' || substr(md5(concat_ws('|', '{evidence_key}', {tuple_cols},
        first_value(first_frame) OVER (PARTITION BY {tuple_cols}, conn_no ORDER BY first_frame))), 1, 17) AS uid,
    first_value(lo_seq_base IGNORE NULLS) OVER c AS lo_conn_base,
    first_value(hi_seq_base IGNORE NULLS) OVER c AS hi_conn_base
FROM n
WINDOW c AS (PARTITION BY {tuple_cols}, conn_no ORDER BY first_frame ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
"""
    letter_aggs = []
    for side in ("lo", "hi"):
        for letter in _LETTERS:
            letter_aggs.append(f"min({side}_f{letter}) AS {side}_f{letter}")
    side_aggs = []
    for side in ("lo", "hi"):
        off = _signed(f"{side}_seq_base - {side}_conn_base")
        side_aggs += [
            f"sum({side}_pkts) AS {side}_pkts", f"sum({side}_ip_bytes) AS {side}_ip_bytes",
            f"sum({side}_len) AS {side}_len", f"sum({side}_len_new) AS {side}_len_new",
            f"sum({side}_retrans) AS {side}_retrans", f"bool_or({side}_syn_seen) AS {side}_syn_seen",
            f"min({off} + {side}_rel_min) AS {side}_rel_min", f"max({off} + {side}_rel_end) AS {side}_rel_end",
        ]
    merged = f"""
CREATE OR REPLACE TEMP TABLE {p}_merged AS
SELECT uid, any_value(proto) AS proto, any_value(lo_h) AS lo_h, any_value(lo_p) AS lo_p,
       any_value(hi_h) AS hi_h, any_value(hi_p) AS hi_p, bool_or(is_outer) AS is_outer,
       min(first_frame) AS first_frame, max(last_frame) AS last_frame, min(first_ts) AS first_ts,
       -- packets after the connection closed (both FINs seen, or a RST) do not lengthen it: Zeek's
       -- duration ends at the closing packet
       least(max(last_ts), min(rst_ts),
             CASE WHEN min(lo_fin_ts) IS NOT NULL AND min(hi_fin_ts) IS NOT NULL
                  THEN greatest(min(lo_fin_ts), min(hi_fin_ts)) END) AS last_ts,
       arg_min(first_from_lo, first_frame) AS first_from_lo,
       arg_min(first_is_syn, first_frame) AS first_is_syn, arg_min(first_is_synack, first_frame) AS first_is_synack,
       arg_min(first_is_dns_reply, first_frame) AS first_is_dns_reply,
       arg_min(first_src_likely_server, first_frame) AS first_src_likely_server,
       arg_min(first_dst_likely_server, first_frame) AS first_dst_likely_server,
       arg_min(app, first_frame) FILTER (WHERE app IS NOT NULL) AS app,
       {", ".join(side_aggs)}, {", ".join(letter_aggs)}
FROM {p}_map GROUP BY uid
"""
    # Orientation: the first packet's sender is the originator, unless that packet is a SYN-ACK
    # or a DNS response, or (no SYN seen) it comes from a likely server port to a likely client
    # port: Zeek then flips the connection and marks the history with '^'.
    oriented = f"""
CREATE OR REPLACE TEMP TABLE {p}_oriented AS
WITH f AS (
    SELECT *, proto IN ('tcp', 'udp') AND (first_is_synack OR first_is_dns_reply OR (NOT first_is_syn
              AND first_src_likely_server)) AS flipped
    FROM {p}_merged
)
SELECT *, first_from_lo <> flipped AS orig_is_lo FROM f
"""
    def side(name: str, orig: bool) -> str:
        # the column of the orig (or resp) side
        lo_first = orig
        return (f"CASE WHEN orig_is_lo THEN {'lo' if lo_first else 'hi'}_{name} "
                f"ELSE {'hi' if lo_first else 'lo'}_{name} END")

    cols = {}
    for name in ("pkts", "ip_bytes", "len", "len_new", "retrans", "syn_seen", "rel_min", "rel_end", "h", "p"):
        for who, is_orig in (("o", True), ("r", False)):
            cols[f"{who}_{name}"] = side(name, is_orig)
    for letter in _LETTERS:
        for who, is_orig in (("o", True), ("r", False)):
            cols[f"{who}_f{letter}"] = side(f"f{letter}", is_orig)
    select_cols = ",\n       ".join(f"{expr} AS {name}" for name, expr in cols.items())
    letters_list = []
    for letter in _LETTERS:
        letters_list.append(f"{{'f': o_f{letter}, 'c': '{letter}'}}")
        letters_list.append(f"{{'f': r_f{letter}, 'c': '{letter.lower()}'}}")
    history = (f"array_to_string(list_transform(list_sort(list_filter([{', '.join(letters_list)}], "
               f"lambda x: x.f IS NOT NULL)), lambda x: x.c), '')")

    conn = f"""
CREATE OR REPLACE TEMP TABLE {p}_conn AS
WITH s AS (
    SELECT uid, proto, is_outer, first_frame, last_frame, first_ts, last_ts, flipped, app,
       {select_cols}
    FROM {p}_oriented
), b AS (
    SELECT *,
        CASE WHEN proto = 'tcp' THEN greatest(coalesce(o_rel_end - o_rel_min - CASE WHEN o_syn_seen THEN 1 ELSE 0 END, 0), 0)
             ELSE o_len END AS o_bytes,
        CASE WHEN proto = 'tcp' THEN greatest(coalesce(r_rel_end - r_rel_min - CASE WHEN r_syn_seen THEN 1 ELSE 0 END, 0), 0)
             ELSE r_len END AS r_bytes,
        -- TCP endpoint states as Zeek's analyzer leaves them
        CASE WHEN o_pkts = 0 THEN 'INACTIVE' WHEN o_fR IS NOT NULL THEN 'RESET' WHEN o_fF IS NOT NULL THEN 'CLOSED'
             WHEN o_fS IS NOT NULL AND r_fH IS NOT NULL THEN 'ESTABLISHED'
             WHEN o_fS IS NOT NULL OR o_fH IS NOT NULL THEN 'SYN_SENT' ELSE 'PARTIAL' END AS os,
        CASE WHEN r_pkts = 0 THEN 'INACTIVE' WHEN r_fR IS NOT NULL THEN 'RESET' WHEN r_fF IS NOT NULL THEN 'CLOSED'
             WHEN r_fH IS NOT NULL AND o_fS IS NOT NULL THEN 'ESTABLISHED'
             WHEN r_fH IS NOT NULL OR r_fS IS NOT NULL THEN 'SYN_ACK_SENT' ELSE 'PARTIAL' END AS rs,
        CASE WHEN proto IN ('tcp', 'udp') THEN CASE WHEN flipped THEN '^' ELSE '' END ||
             CASE WHEN proto = 'udp' THEN
                  array_to_string(list_transform(list_sort(list_filter([
                      {{'f': CASE WHEN o_len > 0 THEN o_fD END, 'c': 'D'}},
                      {{'f': CASE WHEN r_len > 0 THEN r_fD END, 'c': 'd'}}], lambda x: x.f IS NOT NULL)),
                      lambda x: x.c), '')
                  ELSE {history} END END AS history
    FROM s
)
SELECT *,
    CASE WHEN proto = 'tcp' THEN
        CASE WHEN rs = 'RESET' THEN
                 CASE WHEN os IN ('SYN_SENT', 'SYN_ACK_SENT') OR (os = 'RESET' AND o_bytes = 0 AND r_bytes = 0) THEN 'REJ'
                      WHEN os IN ('INACTIVE', 'PARTIAL') THEN 'RSTRH' ELSE 'RSTR' END
             WHEN os = 'RESET' THEN
                 CASE WHEN rs IN ('INACTIVE', 'PARTIAL') THEN
                          CASE WHEN regexp_matches(history, '^\\^?S[^HAFGIQ]*R') THEN 'RSTOS0' ELSE 'OTH' END
                      ELSE 'RSTO' END
             WHEN os = 'CLOSED' AND rs = 'CLOSED' THEN 'SF'
             WHEN os = 'CLOSED' THEN CASE WHEN rs IN ('INACTIVE', 'PARTIAL') THEN 'SH' ELSE 'S2' END
             WHEN rs = 'CLOSED' THEN CASE WHEN os IN ('INACTIVE', 'PARTIAL') THEN 'SHR' ELSE 'S3' END
             WHEN os = 'SYN_SENT' AND rs = 'INACTIVE' THEN 'S0'
             WHEN os = 'ESTABLISHED' AND rs = 'ESTABLISHED' THEN 'S1'
             ELSE 'OTH' END
         WHEN proto = 'udp' THEN
             CASE WHEN o_pkts > 0 THEN CASE WHEN r_pkts > 0 THEN 'SF' ELSE 'S0' END
                  ELSE CASE WHEN r_pkts > 0 THEN 'SHR' ELSE 'OTH' END END
         ELSE 'OTH' END AS conn_state,
    CASE WHEN proto = 'tcp' THEN greatest(o_bytes - o_len_new, 0) + greatest(r_bytes - r_len_new, 0) ELSE 0 END
        AS missed_bytes
FROM b
"""
    return [mapping, merged, oriented, conn]


def service_case(column: str = "app") -> str:
    whens = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in SERVICE_NAMES.items())
    return f"CASE {column} {whens} END"
