"""Linux netfilter LOG lines in kern.log / syslog / messages / ufw.log (iptables ``-j LOG``,
nftables ``log prefix``, ufw, firewalld, Calico ``calico-packet:``, EdgeOS ``[rule-A]``).

Stamps are RFC 3164 (``Feb 17 10:31:02``: year and zone inferred, see
:mod:`forensics.firewall.syslogtime`) or RFC 3339 (``2026-02-17T10:31:02.123456+08:00``), with or
without a ``<pri>`` header. One row per logged packet goes to ``net_events``: the IP length as
``bytes_out``, one packet, the TCP flags, the log prefix as ``rule`` and an ``action`` read from
it (DROP/REJECT/DENY/BLOCK/``-D]`` deny; ACCEPT/ALLOW/PASS/AUDIT/``-A]`` allow; otherwise unknown).
Other kernel messages in the same file are skipped and counted in one warning; lines that look
like netfilter records but cannot be read (truncated, bad address or port, impossible date,
binary junk) each get a warning with their line number.

Clock skew is not corrected: the stamps are stored as the host wrote them.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

from forensics.context import ParseContext
from forensics.firewall.netfilter import (
    NET_EVENTS_SELECT,
    NetfilterReader,
    TimeContext,
    iter_line_blocks,
    with_host_and_action,
)
from forensics.firewall.netfilter_line import looks_like_netfilter, parse_stamp
from forensics.firewall.sink import NETFILTER_FAMILY, HostNames, NetEventWriter, memory_budget
from forensics.registry import Parser, Sniff, register

NAME = "netfilter"
BLOCK_SIZE = 16 << 20

def sniff(s: Sniff) -> float:
    lines = s.first_nonblank_lines
    if not lines:
        return 0.0
    hits = 0
    for line in lines:
        if looks_like_netfilter(line) and parse_stamp(line)[0] is not None:
            hits += 1
    if not hits:
        return 0.0
    return 0.9 if hits * 5 >= len(lines) else 0.6


def parse(ctx: ParseContext) -> None:
    try:
        mtime = os.path.getmtime(ctx.path)
    except OSError:
        mtime = None
    time = TimeContext(ctx.hints.timezone, ctx.hints.year, mtime)
    load(ctx, NetfilterReader(time, with_header=True), time)


def load(ctx: ParseContext, reader: NetfilterReader, time: TimeContext) -> None:
    """Reads the file block by block (the next block is parsed while the last one is written),
    all blocks going into net_events through one INSERT."""
    writer = NetEventWriter(ctx, NAME, family=NETFILTER_FAMILY)
    hosts = HostNames(ctx)
    select = NET_EVENTS_SELECT.format(locator="'line:' || line")
    counts = {"other": 0}

    def tables():
        with ctx.open() as handle, ThreadPoolExecutor(max_workers=1) as pool:
            blocks = iter_line_blocks(handle, BLOCK_SIZE)
            pending = None
            while True:
                if pending is None:
                    item = next(blocks, None)
                    if item is None:
                        break
                    pending = (pool.submit(reader.read_block, item[0], item[1]), item[2])
                future, nread = pending
                item = next(blocks, None)
                result = future.result()
                pending = (pool.submit(reader.read_block, item[0], item[1]), item[2]) if item else None
                for line, reason, excerpt in result.warnings:
                    ctx.warn(f"line:{line}", reason, excerpt)
                counts["other"] += result.n_other
                if result.table.num_rows:
                    yield with_host_and_action(result.table, hosts, writer.addresses)
                ctx.advance(nread)
                if pending is None:
                    break

    with memory_budget(ctx):
        writer.insert_stream(tables(), select, canonical=True)
        report_inference(ctx, time, counts["other"])
        writer.deduplicate()


def report_inference(ctx: ParseContext, time: TimeContext, n_other: int) -> None:
    """One warning each for what the responder should know about the whole file."""
    if time.used_year and time.year_source in ("mtime", "clock"):
        ctx.warn(None, f"RFC 3164 stamps have no year: {time.years.base_year} assumed from the file's "
                 "modification time" + (" (unavailable: today's year)" if time.year_source == "clock" else "")
                 + " (give --year or the inventory's year: to override)")
    if time.years is not None and time.years.rollovers:
        ctx.warn(f"line:{time.years.rollovers[0]}", "RFC 3164 stamps roll over into a new year here "
                 f"({len(time.years.rollovers)} rollover(s) in the file)")
    if time.used_zone and not ctx.hints.timezone:
        ctx.warn(None, "stamps without a zone read as UTC: no time zone known for this file "
                 "(give --tz or an inventory timezone)")
    if n_other:
        ctx.warn(None, f"{n_other} lines are not netfilter packet logs (other messages), skipped")


register(Parser(
    name=NAME,
    description="Linux netfilter LOG lines (iptables, nftables, ufw, firewalld, Calico) in kern.log/syslog",
    tables=("net_events",),
    sniff=sniff,
    parse=parse,
    version="1",
    extensions=(".log",),
))
