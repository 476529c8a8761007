"""One-line errors: what every command line, job and server answers a failure with."""

from __future__ import annotations


class ConfigError(ValueError):
    """Raised for a parameter or setting that cannot be used; the message is one line."""


class DriftDetectedError(ValueError):
    """Raised by the monitoring job, after logging, when asked to fail on drift; one line.

    Here, not beside the drift tests: the command line names it without importing SciPy.
    """


# A message is one line, and never echoes a large body back.
MAX_MESSAGE_CHARS = 300


def one_line(message: object, limit: int = MAX_MESSAGE_CHARS) -> str:
    """The first non-blank line of ``message``, cut to ``limit`` characters.

    Args:
        message: An error message, or an exception (its text).
        limit: The longest line returned; a longer one ends with an ellipsis.

    Returns:
        The line, or ``"error"`` when the message is blank.
    """
    lines = [line.strip() for line in str(message).strip().splitlines() if line.strip()]
    text = lines[0] if lines else "error"
    return text if len(text) <= limit else text[: limit - 1] + "…"
