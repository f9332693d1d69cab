"""Key material for the commands, from a key file or environment variables, never only from argv.

Keys on the command line are visible in ``ps`` and in the shell history. Every command that needs keys
takes ``--keys FILE`` (or ``COSEMNET_KEYS=FILE``) and the ``COSEMNET_*`` variables below; the old
``--ek``/``--ak``/... options still work and win over both. See docs/decisions/0092-key-files.md.

The key file is TOML (``.toml`` or anything else) or JSON (``.json``), one flat table::

    # cosemnet key file: chmod 600
    ek = "000102030405060708090A0B0C0D0E0F"            # global unicast encryption key (GUEK)
    ak = "D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF"            # authentication key (GAK)
    kek = "000102030405060708090A0B0C0D0E0F"           # key-encryption (master) key
    broadcast_key = "000102030405060708090A0B0C0D0E0F" # global broadcast encryption key (GBEK)
    system_title = "4D4D4D0000000001"                  # the client's own system title
    server_system_title = "4D4D4D0000BC614E"           # the meter's (optional)
    password = "12345678"                              # LLS password / HLS secret as text
    # password_hex = "3132333435363738"                # ... or as hex

Keys are 16 or 32 bytes of hex, system titles 8; unknown names are refused (a typo must not silently
leave a key unset). On POSIX the file must not be readable or writable by group or others (mode
0600 or 0400): a wider one is refused with the ``chmod`` to run.

Environment: ``COSEMNET_EK``, ``COSEMNET_AK``, ``COSEMNET_KEK``, ``COSEMNET_BROADCAST_KEY``,
``COSEMNET_SYSTEM_TITLE``, ``COSEMNET_SERVER_SYSTEM_TITLE``, ``COSEMNET_PASSWORD``,
``COSEMNET_PASSWORD_HEX``. Precedence, field by field: command-line option, then environment, then key
file.

API (for every command, the ``hes`` ones included)::

    material = resolve_keys(key_file, overrides=KeyMaterial(ek=ek_option), environ=os.environ)
    register_secrets(*material.secrets())     # cosemnet.cli.logs: keys never reach the logs
"""

from __future__ import annotations

import json
import os
import stat
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Final

import click

from cosemnet.errors import CosemnetError

KEYS_ENV: Final = "COSEMNET_KEYS"
"""Environment variable naming the key file when ``--keys`` is not given."""

KEY_SIZES: Final = (16, 32)
TITLE_SIZES: Final = (8,)

_HEX_FIELDS: Final = {
    "ek": KEY_SIZES,
    "ak": KEY_SIZES,
    "kek": KEY_SIZES,
    "broadcast_key": KEY_SIZES,
    "system_title": TITLE_SIZES,
    "server_system_title": TITLE_SIZES,
}
_FILE_NAMES: Final = (*_HEX_FIELDS, "password", "password_hex")


class KeyFileError(CosemnetError):
    """A key file or key variable that cannot be used (format, size, permissions): a user error."""


@dataclass(frozen=True, slots=True)
class KeyMaterial:
    """Keys, system titles and the password of one command (None: not given). Reprs never show keys."""

    ek: bytes | None = field(default=None, repr=False)
    ak: bytes | None = field(default=None, repr=False)
    kek: bytes | None = field(default=None, repr=False)
    broadcast_key: bytes | None = field(default=None, repr=False)
    system_title: bytes | None = None
    server_system_title: bytes | None = None
    password: bytes | None = field(default=None, repr=False)

    def merged(self, other: KeyMaterial) -> KeyMaterial:
        """These values, with each field ``other`` sets taking its place."""
        changes = {
            f.name: getattr(other, f.name) for f in fields(other) if getattr(other, f.name) is not None
        }
        return replace(self, **changes)

    def secrets(self) -> list[bytes]:
        """The secret values that are set (for :func:`cosemnet.cli.logs.register_secrets`)."""
        values = (self.ek, self.ak, self.kek, self.broadcast_key, self.password)
        return [v for v in values if v]

    @property
    def empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))


def _hex(name: str, value: object, where: str) -> bytes:
    sizes = _HEX_FIELDS[name]
    if not isinstance(value, str):
        raise KeyFileError(f"{where}: {name} must be a string of hex digits")
    text = value.replace(" ", "").replace(":", "")
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise KeyFileError(f"{where}: {name} must be hex digits") from None
    if len(raw) not in sizes:
        raise KeyFileError(f"{where}: {name} must be {' or '.join(map(str, sizes))} bytes, not {len(raw)}")
    return raw


def key_material(values: Mapping[str, Any], where: str) -> KeyMaterial:
    """:class:`KeyMaterial` of a flat mapping with the key file's names (KeyFileError naming ``where``)."""
    unknown = sorted(set(values) - set(_FILE_NAMES))
    if unknown:
        raise KeyFileError(f"{where}: unknown name(s) {', '.join(unknown)} (known: {', '.join(_FILE_NAMES)})")
    parsed: dict[str, bytes] = {
        name: _hex(name, value, where) for name, value in values.items() if name in _HEX_FIELDS
    }
    if "password" in values and "password_hex" in values:
        raise KeyFileError(f"{where}: give password or password_hex, not both")
    if "password" in values:
        if not isinstance(values["password"], str):
            raise KeyFileError(f"{where}: password must be a string")
        parsed["password"] = values["password"].encode()
    elif "password_hex" in values:
        try:
            parsed["password"] = bytes.fromhex(str(values["password_hex"]))
        except ValueError:
            raise KeyFileError(f"{where}: password_hex must be hex digits") from None
    return KeyMaterial(**parsed)


def check_permissions(path: Path) -> None:
    """KeyFileError when group or others may read or write ``path`` (POSIX only)."""
    if os.name != "posix":
        return
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(
            f"{path}: the key file is accessible by group or others (mode {stat.S_IMODE(mode):04o}); "
            f"run: chmod 600 {path}"
        )


def load_key_file(path: str | Path) -> KeyMaterial:
    """Read a key file (TOML, or JSON for ``*.json``): permissions first, then the contents.

    OSError when it cannot be read (the caller reports it without a traceback), KeyFileError when its
    permissions are too wide or its contents are wrong. The error text never contains key values.
    """
    path = Path(path)
    check_permissions(path)
    data = path.read_bytes()
    try:
        if path.suffix.lower() == ".json":
            values = json.loads(data)
        else:
            values = tomllib.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        kind = "JSON" if path.suffix.lower() == ".json" else "TOML"
        # the parser's message may quote the file's text (a key): name only the position
        line = getattr(exc, "lineno", None)
        raise KeyFileError(f"{path}: not valid {kind}" + (f" (line {line})" if line else "")) from None
    if not isinstance(values, dict):
        raise KeyFileError(f"{path}: must be one table of names and values")
    return key_material(values, str(path))


ENV_NAMES: Final = {
    "COSEMNET_EK": "ek",
    "COSEMNET_AK": "ak",
    "COSEMNET_KEK": "kek",
    "COSEMNET_BROADCAST_KEY": "broadcast_key",
    "COSEMNET_SYSTEM_TITLE": "system_title",
    "COSEMNET_SERVER_SYSTEM_TITLE": "server_system_title",
    "COSEMNET_PASSWORD": "password",
    "COSEMNET_PASSWORD_HEX": "password_hex",
}
"""Environment variable -> key file name."""


def keys_from_env(environ: Mapping[str, str] | None = None) -> KeyMaterial:
    """The ``COSEMNET_*`` key variables that are set (empty ones are ignored)."""
    environ = os.environ if environ is None else environ
    values = {name: environ[var] for var, name in ENV_NAMES.items() if environ.get(var)}
    return key_material(values, "environment")


def resolve_keys(
    key_file: str | Path | None,
    overrides: KeyMaterial | None = None,
    environ: Mapping[str, str] | None = None,
) -> KeyMaterial:
    """Key file (``key_file``, else ``$COSEMNET_KEYS``), then the environment, then ``overrides``
    (the command-line options), each field taken from the last that sets it."""
    environ = os.environ if environ is None else environ
    if key_file is None and environ.get(KEYS_ENV):
        key_file = environ[KEYS_ENV]
    material = load_key_file(key_file) if key_file is not None else KeyMaterial()
    material = material.merged(keys_from_env(environ))
    return material.merged(overrides) if overrides is not None else material


def keys_option(function: Callable[..., Any]) -> Callable[..., Any]:
    """``--keys FILE`` (envvar ``COSEMNET_KEYS``), passed as ``key_file`` (a path or None)."""
    return click.option(
        "--keys",
        "key_file",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        metavar="FILE",
        help=f"Key file (TOML or JSON, mode 0600): ek, ak, kek, broadcast_key, system_title, password "
        f"[env: {KEYS_ENV}]; COSEMNET_EK, COSEMNET_AK, ... are read too.",
    )(function)


__all__ = [
    "ENV_NAMES",
    "KEYS_ENV",
    "KeyFileError",
    "KeyMaterial",
    "check_permissions",
    "key_material",
    "keys_from_env",
    "keys_option",
    "load_key_file",
    "resolve_keys",
]
