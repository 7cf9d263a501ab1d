"""``Logger`` as in TensorRT: a minimum severity, and ``log(severity, message)`` printing to stderr.

kiln's builder prints its own progress to stderr; the builder's logger decides how much: VERBOSE prints every pass
and tuned layer (BuilderConfig.verbose), INFO the tuning progress (show_progress), WARNING and below nothing.
"""
import enum
import sys


class Severity(enum.IntEnum):
    INTERNAL_ERROR = 0
    ERROR = 1
    WARNING = 2
    INFO = 3
    VERBOSE = 4


class ILogger:
    """Base class for user loggers: override ``log``."""

    Severity = Severity
    INTERNAL_ERROR = Severity.INTERNAL_ERROR
    ERROR = Severity.ERROR
    WARNING = Severity.WARNING
    INFO = Severity.INFO
    VERBOSE = Severity.VERBOSE

    def __init__(self, min_severity=Severity.WARNING):
        self.min_severity = Severity(min_severity)

    def log(self, severity, msg):
        raise NotImplementedError


class Logger(ILogger):
    """Prints messages at or above ``min_severity`` to stderr, like trt.Logger."""

    def log(self, severity, msg):
        severity = Severity(severity)
        if severity <= self.min_severity:
            print(f"[kiln] [{severity.name}] {msg}", file=sys.stderr, flush=True)


def severity_of(logger):
    """The minimum severity a logger shows (WARNING for None or for a logger without one)."""
    return Severity(getattr(logger, "min_severity", Severity.WARNING))
