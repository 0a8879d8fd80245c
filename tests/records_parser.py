"""A tiny parser used only by the foundation tests: files whose first line is '#test-records'
hold 'host,value' lines; anything else on a line is a parse warning."""

from __future__ import annotations

import pyarrow as pa

from forensics.registry import Parser, register

MARKER = b"#test-records"


def sniff(s):
    return 1.0 if s.head.startswith(MARKER) else 0.0


def parse(ctx):
    hosts, values, locators = [], [], []
    with ctx.open() as handle:
        for number, raw in enumerate(handle, start=1):
            if number == 1:
                continue
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            host, sep, value = line.partition(",")
            if not sep or not host or not value.isdigit():
                ctx.warn(f"line:{number}", "not a host,value line", raw)
                continue
            hosts.append(host)
            values.append(value)
            locators.append(f"line:{number}")
    ctx.insert("entities", pa.table({"kind": ["test_record"] * len(hosts), "value": values,
                                     "host": hosts, "locator": locators, "source": ["test-records"] * len(hosts)}))


PARSER = Parser(name="test-records", description="test only", tables=("entities",), sniff=sniff, parse=parse)


def install():
    register(PARSER)
    return PARSER
