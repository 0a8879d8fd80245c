"""Firewall and flow logs: shared machinery of the parsers that fill ``net_events`` and ``flows``.

- :mod:`.netfilter` reads Linux netfilter LOG lines (iptables ``-j LOG``, nftables ``log``, ufw,
  firewalld, Calico) with a vectorised fast path and a per-line reference parser;
- :mod:`.syslogtime` turns RFC 3164 / RFC 3339 stamps into UTC (year inference, Dec->Jan
  rollover, zones);
- :mod:`.addresses` classifies addresses against the cluster (inventory networks, host public
  IPs, RFC 1918) in plain SQL;
- :mod:`.sink` writes normalised rows into ``net_events`` / ``flows`` with direction, host and
  duplicate handling.
"""
