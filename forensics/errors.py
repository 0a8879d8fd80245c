"""Error types. Every error a responder can act on is a ForensicsError with a one-line message;
the command line prints it as such and exits 1 (tracebacks only with --debug)."""


class ForensicsError(Exception):
    """Base class: an error whose message is meant for the responder."""


class CaseError(ForensicsError):
    """The case database cannot be opened or is inconsistent."""


class EvidenceError(ForensicsError):
    """An evidence path cannot be read."""


class QueryError(ForensicsError):
    """A query file is unknown, malformed, or was given wrong parameters."""


class ParserError(ForensicsError):
    """A parser name is unknown or a parser cannot run."""
