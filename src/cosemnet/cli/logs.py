"""Logging for the ``cosemnet`` command: levels from ``-v/-vv/-q``, text or JSON lines on stderr, no keys.

The library logs through ``logging.getLogger(__name__)`` with structured fields passed as ``extra``
(``event``, ``system_title``, ``peer``, ``invoke_id``, ...); this module only decides where the records
go and how they look (see docs/decisions/0067-cli-logging.md):

- level: WARNING by default, ``-v`` INFO, ``-vv`` DEBUG, ``-q`` ERROR; otherwise ``COSEMNET_LOG_LEVEL``
  (a level name or number) when set; flags on the command line win over the environment;
- format: ``text`` (``time level logger: message key=value ...``) or ``json`` (one object per line:
  ``time`` ISO 8601 UTC with milliseconds, ``level``, ``logger``, ``message``, the extra fields, and
  ``exception`` when there is one); ``--log-format`` or ``COSEMNET_LOG_FORMAT``;
- always stderr, so that stdout stays the command's output;
- :class:`RedactionFilter` on the handler: every extra field (and mapping argument) whose name says
  key material (``key``, ``ek``, ``ak``, ``kek``, ``password``, ``secret``, ``dedicated_key``, ... see
  :func:`is_sensitive_name`) is replaced by ``"<redacted>"``, also inside nested mappings; the hex (either
  case) of every secret registered with :meth:`RedactionFilter.add_secret` is replaced in the message,
  the fields and the exception text.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import re
import sys
from collections.abc import Iterable, Mapping
from typing import Final, TextIO

LOG_LEVEL_ENV: Final = "COSEMNET_LOG_LEVEL"
LOG_FORMAT_ENV: Final = "COSEMNET_LOG_FORMAT"
LOG_FORMATS: Final = ("text", "json")
REDACTED: Final = "<redacted>"
ROOT_LOGGER: Final = "cosemnet"
HANDLER_NAME: Final = "cosemnet-cli"

_SENSITIVE_EXACT: Final = frozenset({"ek", "ak", "kek", "mk", "gek", "gak", "lls", "pin", "hls"})
_SENSITIVE_PARTS: Final = ("key", "password", "passwd", "secret", "token", "credential")
_SENSITIVE_NAMES: Final = re.compile(r"^(?:.*_)?(?:ek|ak|kek|mk)(?:_.*)?$")

# Attributes every LogRecord has; anything else on a record came from ``extra``.
_RECORD_ATTRIBUTES: Final = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime", "taskName"}
)


def is_sensitive_name(name: str) -> bool:
    """True for field names that hold key material: ``ek``, ``ak``, ``kek``, ``*key*``, ``*password*``,
    ``*secret*``, ``*token*`` (case-insensitive; ``global_ek``, ``dedicated_key``, ``hls_secret``...).

    ``system_title`` and ``invoke_id`` are not: they are public on the wire.
    """
    lowered = name.lower()
    if lowered in _SENSITIVE_EXACT or _SENSITIVE_NAMES.match(lowered):
        return True
    return any(part in lowered for part in _SENSITIVE_PARTS)


def verbosity_level(verbose: int, quiet: bool, environ: Mapping[str, str] | None = None) -> int:
    """The logging level for ``-v`` given ``verbose`` times and ``-q`` (flags first, then the env)."""
    if quiet:
        return logging.ERROR
    if verbose >= 2:
        return logging.DEBUG
    if verbose == 1:
        return logging.INFO
    value = (os.environ if environ is None else environ).get(LOG_LEVEL_ENV, "").strip()
    return parse_level(value) if value else logging.WARNING


def parse_level(value: str) -> int:
    """``debug``/``INFO``/``warning``/``error``/``critical`` or a number; ValueError otherwise."""
    if value.isdigit():
        return int(value)
    level = logging.getLevelNamesMapping().get(value.upper())
    if level is None:
        raise ValueError(f"unknown log level {value!r} (debug, info, warning, error or critical)")
    return level


class RedactionFilter(logging.Filter):
    """Replaces key material in a record before any formatter sees it (never drops a record)."""

    def __init__(self, secrets: Iterable[bytes] = ()) -> None:
        super().__init__()
        self._patterns: list[re.Pattern[str]] = []
        for secret in secrets:
            self.add_secret(secret)

    def add_secret(self, secret: bytes) -> None:
        """Also scrub the hex of ``secret`` (upper or lower case) wherever it appears. Ignores < 4 bytes."""
        if len(secret) >= 4:
            self._patterns.append(re.compile(re.escape(secret.hex()), re.IGNORECASE))

    def scrub_text(self, text: str) -> str:
        for pattern in self._patterns:
            text = pattern.sub(REDACTED, text)
        return text

    def _scrub(self, value: object, depth: int = 0) -> object:
        if depth > 8:
            return value
        if isinstance(value, Mapping):
            return {
                k: REDACTED if isinstance(k, str) and is_sensitive_name(k) else self._scrub(v, depth + 1)
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return type(value)(self._scrub(v, depth + 1) for v in value)
        if isinstance(value, bytes | bytearray) and self._patterns:
            return self.scrub_text(bytes(value).hex())
        if isinstance(value, str) and self._patterns:
            return self.scrub_text(value)
        return value

    def filter(self, record: logging.LogRecord) -> bool:
        for name in extra_fields(record):
            value = getattr(record, name)
            setattr(record, name, REDACTED if is_sensitive_name(name) else self._scrub(value))
        if isinstance(record.args, Mapping):
            record.args = dict(self._scrub(record.args))  # type: ignore[call-overload]
        elif isinstance(record.args, tuple) and self._patterns:
            scrubbed = self._scrub(list(record.args))
            record.args = tuple(scrubbed) if isinstance(scrubbed, list) else record.args
        if self._patterns:
            record.msg = self.scrub_text(str(record.msg))
            if record.exc_info and record.exc_info[1] is not None:
                record.exc_text = self.scrub_text(logging.Formatter().formatException(record.exc_info))
                record.exc_info = None
        return True


def extra_fields(record: logging.LogRecord) -> list[str]:
    """Names of the fields a record got through ``extra=`` (sorted)."""
    return sorted(
        name for name in vars(record) if name not in _RECORD_ATTRIBUTES and not name.startswith("_")
    )


def _iso_time(created: float) -> str:
    moment = datetime.datetime.fromtimestamp(created, datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _json_value(value: object) -> object:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex().upper()
    if isinstance(value, Mapping):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_json_value(v) for v in value]
    return str(value)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, the extra fields, exception."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, object] = {
            "time": _iso_time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in extra_fields(record):
            if name not in document:
                document[name] = _json_value(getattr(record, name))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            document["exception"] = record.exc_text
        return json.dumps(document, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``2026-01-01T00:00:00.000Z INFO cosemnet.client: message event=... peer=...``."""

    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{name}={_text_value(getattr(record, name))}" for name in extra_fields(record))
        line = f"{_iso_time(record.created)} {record.levelname} {record.name}: {record.getMessage()}"
        if fields:
            line += " " + fields
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line += "\n" + record.exc_text
        return line


def _text_value(value: object) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex().upper()
    text = str(value)
    return json.dumps(text) if (" " in text or not text) else text


def configure_logging(
    level: int = logging.WARNING,
    log_format: str = "text",
    stream: TextIO | None = None,
    secrets: Iterable[bytes] = (),
) -> RedactionFilter:
    """Send log records of every logger at ``level`` and above to ``stream`` (stderr) in ``log_format``.

    Replaces a handler installed by an earlier call (idempotent); returns the redaction filter, to which
    a command adds the keys it was given (:meth:`RedactionFilter.add_secret`).
    """
    if log_format not in LOG_FORMATS:
        raise ValueError(f"unknown log format {log_format!r} (text or json)")
    handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    redaction = RedactionFilter(secrets)
    handler.addFilter(redaction)
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)
    return redaction


def active_redaction() -> RedactionFilter | None:
    """The filter :func:`configure_logging` installed, to register secrets from a command."""
    for handler in logging.getLogger().handlers:
        if handler.get_name() == HANDLER_NAME:
            for flt in handler.filters:
                if isinstance(flt, RedactionFilter):
                    return flt
    return None


def json_logging_active() -> bool:
    """True when :func:`configure_logging` installed the JSON formatter (``--log-format json``)."""
    return any(
        h.get_name() == HANDLER_NAME and isinstance(h.formatter, JsonFormatter)
        for h in logging.getLogger().handlers
    )


def register_secrets(*secrets: bytes | None) -> None:
    """Scrub these keys from every later log line (no-op without :func:`configure_logging`)."""
    redaction = active_redaction()
    if redaction is not None:
        for secret in secrets:
            if secret:
                redaction.add_secret(secret)


__all__ = [
    "LOG_FORMATS",
    "LOG_FORMAT_ENV",
    "LOG_LEVEL_ENV",
    "REDACTED",
    "JsonFormatter",
    "RedactionFilter",
    "TextFormatter",
    "active_redaction",
    "configure_logging",
    "extra_fields",
    "is_sensitive_name",
    "json_logging_active",
    "parse_level",
    "register_secrets",
    "verbosity_level",
]
