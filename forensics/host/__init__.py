"""Host process evidence: Linux audit records, laurel, Falco and Tetragon events.

What a transcript says the agent asked for is checked against what the host says actually ran:
processes (pid, parent, command line, container), the sockets they opened, and the alerts a
runtime monitor raised about them. The parsers in ``parsers/auditd.py``, ``laurel.py``,
``falco.py`` and ``tetragon.py`` use this package; the tables and views are in
``queries/schema/60_host.sql``.
"""
