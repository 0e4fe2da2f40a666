"""Keep the API key out of every text tunehouse produces.

The YouTube Data API takes the key in the query string (`key=...`), so any URL that
requests/urllib3 print (debug logs, exception messages) would carry it. `redact` scrubs
texts we build; `RedactingFilter` scrubs log records at the loggers that print URLs.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

_KEY_PARAM = re.compile(r"([?&;](?:key|api_key|apikey)=)[^&\s\"'#]+", re.IGNORECASE)
REDACTED = "REDACTED"

# Loggers that print request URLs: urllib3 logs "GET /youtube/v3/videos?...&key=..." at DEBUG.
URL_LOGGERS = ("urllib3", "urllib3.connectionpool", "urllib3.util.retry", "requests")


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """`text` with any key=... query parameter and every given secret replaced."""
    text = _KEY_PARAM.sub(rf"\g<1>{REDACTED}", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites a record's message when it contains a key parameter or a known secret."""

    def __init__(self, secrets: Iterable[str | None] = ()):
        super().__init__()
        self.secrets = tuple(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is not ours to fix
            return True
        clean = redact(message, self.secrets)
        if clean != message:
            record.msg, record.args = clean, ()
        return True


def install_log_redaction(secret: str | None) -> RedactingFilter:
    """Attach a filter for `secret` to the loggers that print URLs; returns it for removal."""
    flt = RedactingFilter([secret])
    for name in URL_LOGGERS:
        logging.getLogger(name).addFilter(flt)
    return flt


def remove_log_redaction(flt: RedactingFilter) -> None:
    for name in URL_LOGGERS:
        logging.getLogger(name).removeFilter(flt)
