"""Rich tree view of decoded frames and APDUs (``cosemnet decode`` without ``--json``).

The walker is generic, like the JSON form: it follows the dataclass fields of any APDU class and
uses the field annotations (:func:`cosemnet.codec.jsonform.field_hints`) to tell COSEM Data values
from plain fields. On top it adds what a person wants to see: OBIS names, interface class names,
enumeration names, Data types, date-times hidden in octet-strings, the security header of ciphered
content, APDUs nested in other APDUs (ACSE user-information, the wrapper payload, signed content)
and, when keys were given, the decrypted plaintext.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import typing
from collections.abc import Callable
from typing import Any, Protocol

from rich.markup import escape
from rich.tree import Tree

from cosemnet.codec.axdr import data_tag
from cosemnet.codec.ciphered import CIPHERED_TO_PLAIN, split_ciphered_content
from cosemnet.codec.class_ids import describe_class
from cosemnet.codec.datetime import CosemDateTime
from cosemnet.codec.jsonform import (
    NESTED_APDU_FIELDS,
    DataValueHint,
    field_hints,
    hint_members,
    is_empty_default,
)
from cosemnet.codec.obis import Obis, obis_name
from cosemnet.codec.tags import ApduTag
from cosemnet.codec.types import BitString, CompactArray, Tag, TypeDescription
from cosemnet.errors import CosemnetError

APDU_NAMES: dict[int, str] = {int(tag): tag.standard_name for tag in ApduTag}
"""First byte of an APDU -> its name in the standard (for labels)."""

for _ciphered, (_plain, _dedicated) in CIPHERED_TO_PLAIN.items():
    APDU_NAMES[_ciphered] = ("ded-" if _dedicated else "glo-") + APDU_NAMES.get(_plain, f"0x{_plain:02X}")

WPORT_NAMES: dict[int, str] = {
    0: "no-station",
    1: "management client / management logical device",
    16: "public client",
    127: "all-station",
}
"""Well-known wPorts of IEC 62056-4-7 (1 means the management client on the client side and the
management logical device on the server side)."""


@dataclasses.dataclass(slots=True)
class Decryption:
    """What decrypting one ciphered APDU gave: the plaintext APDU, or why it failed."""

    plaintext: bytes | None = None
    apdu: object | None = None
    error: str | None = None


@dataclasses.dataclass(slots=True)
class TreeOptions:
    max_items: int | None = 20
    """Array elements shown before the rest is summarised; None for all."""
    max_bytes: int | None = 48
    """Bytes of hex shown before the rest is summarised; None for all."""


def system_title_note(title: bytes) -> str:
    """``MMM 12345678`` for a system title whose first three bytes are a manufacturer (FLAG) id."""
    if len(title) == 8 and all(0x41 <= b <= 0x5A for b in title[:3]):
        return f"{title[:3].decode('ascii')} {int.from_bytes(title[3:], 'big')}"
    return ""


def security_control_text(sc: int) -> str:
    """``suite 0, authenticated, encrypted, unicast key`` for a security control byte."""
    parts = [f"suite {sc & 0x0F}"]
    if sc & 0x10:
        parts.append("authenticated")
    if sc & 0x20:
        parts.append("encrypted")
    if not sc & 0x30:
        parts.append("no protection")
    parts.append("broadcast key" if sc & 0x40 else "unicast key")
    if sc & 0x80:
        parts.append("compressed")
    return ", ".join(parts)


class TreeExtension(Protocol):
    """What a layered message (e.g. IEC 62056-8-8: CN/IP, 14908-1, ADP, DLMS) adds to the generic walk."""

    def label(self, obj: object) -> str | None:
        """Details for the label of a top-level node (plain text), or None for the default."""

    def expand(self, owner: object, name: str, value: object) -> object | None:
        """A decoded object to show as a subtree in place of field ``name`` of ``owner``, or None."""

    def note(self, owner: object, name: str, value: object) -> str | None:
        """Rich markup to show as the value of field ``name`` of ``owner``, or None for the default."""


class TreeBuilder:
    """Builds :class:`rich.tree.Tree` views.

    ``decode_nested`` decodes the bytes of a nested APDU (None if they are not one);
    ``decryption`` gives the decryption of a ciphered APDU object, if any was made;
    ``extension`` shows the layers of another profile's frames.
    """

    def __init__(
        self,
        options: TreeOptions | None = None,
        decode_nested: Callable[[bytes], object | None] | None = None,
        decryption: Callable[[object], Decryption | None] | None = None,
        extension: TreeExtension | None = None,
    ) -> None:
        self.options = options or TreeOptions()
        self.decode_nested = decode_nested
        self.decryption = decryption
        self.extension = extension

    # ---------------------------------------------------------------------------------------------
    # APDUs and other dataclasses

    def apdu_tree(self, apdu: object, prefix: str = "") -> Tree:
        tree = Tree(prefix + self._apdu_label(apdu))
        self._fill(tree, apdu)
        return tree

    def _apdu_label(self, apdu: object) -> str:
        label = f"[bold]{escape(type(apdu).__name__)}[/]"
        if self.extension is not None:
            details = self.extension.label(apdu)
            if details is not None:
                return f"{label} [dim]({escape(details)})[/]"
        try:
            encoded: bytes = apdu.encode()  # type: ignore[attr-defined]
        except (CosemnetError, AttributeError, ValueError):
            return label
        if type(apdu).__name__ == "WrapperFrame":
            return f"{label} [dim](IEC 62056-4-7 wrapper, {len(encoded)} bytes)[/]"
        name = APDU_NAMES.get(encoded[0], "") if encoded else ""
        details = f"{name} " if name and name != type(apdu).__name__ else ""
        details += f"0x{encoded[0]:02X}, {len(encoded)} bytes" if encoded else "0 bytes"
        return f"{label} [dim]({escape(details)})[/]"

    def _fill(self, node: Tree, obj: object) -> None:
        hints = field_hints(type(obj))
        for name, hint in hints.items():
            value = getattr(obj, name)
            if is_empty_default(type(obj), name, value):
                continue  # absent OPTIONAL components and empty defaults are noise for people
            if self.extension is not None:
                expanded = self.extension.expand(obj, name, value)
                if expanded is not None:
                    node.add(self.apdu_tree(expanded, prefix=f"[blue]{escape(name)}[/]: "))
                    continue
                note = self.extension.note(obj, name, value)
                if note is not None:
                    node.add(f"[blue]{escape(name)}[/]: {note}")
                    continue
            self._field(node, name, value, hint)
        if self.decryption is not None:
            result = self.decryption(obj)
            if result is not None:
                self._decrypted(node, result)

    def _decrypted(self, node: Tree, result: Decryption) -> None:
        if result.error is not None:
            node.add(f"[bold red]decryption failed:[/] {escape(result.error)}")
            return
        if result.apdu is not None:
            node.add(self.apdu_tree(result.apdu, prefix="[green]decrypted →[/] "))
        elif result.plaintext is not None:
            node.add(f"[green]decrypted →[/] {self._hex(result.plaintext)} [dim](not an APDU)[/]")

    def _field(self, node: Tree, name: str, value: Any, hint: Any) -> None:
        members = hint_members(hint)
        label = f"[blue]{escape(name)}[/]: "
        if value is None and (type(None) in members or DataValueHint not in members):
            node.add(label + "[dim]absent[/]")
            return
        if isinstance(value, enum.Enum):
            node.add(label + self._enum(value))
            return
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            sub = node.add(label + f"[bold]{escape(type(value).__name__)}[/]")
            self._fill(sub, value)
            return
        declared = self._declared(value, members)
        if declared is None and DataValueHint in members:
            self.data(node, value, label)
            return
        origin = typing.get_origin(declared) if declared is not None else None
        if origin is list or origin is tuple:
            args = typing.get_args(declared)
            fixed = origin is tuple and not (len(args) == 2 and args[1] is Ellipsis)
            sub = node.add(label + f"[dim]{len(value)} item(s)[/]")
            shown, hidden = self._limited(value)
            for index, item in enumerate(shown):
                if fixed:
                    item_hint = args[index] if index < len(args) else Any
                else:
                    item_hint = args[0] if args else Any
                self._field(sub, f"[{index}]", item, item_hint)
            self._more(sub, hidden)
            return
        if isinstance(value, Obis):
            node.add(label + self._obis(value))
            return
        if isinstance(value, bytes | bytearray | memoryview):
            self._bytes_field(node, name, label, bytes(value))
            return
        if isinstance(value, bool):
            node.add(label + ("true" if value else "false"))
            return
        if isinstance(value, int):
            node.add(label + self._int_field(name, value))
            return
        if isinstance(value, str):
            node.add(label + escape(repr(value)))
            return
        node.add(label + escape(repr(value)))

    @staticmethod
    def _declared(value: Any, members: tuple[Any, ...]) -> Any:
        """The non-Data member of the field's annotation that ``value`` is an instance of, if any."""
        for member in members:
            if member is DataValueHint or member is type(None):
                continue
            runtime = typing.get_origin(member) or member
            if isinstance(runtime, type) and isinstance(value, runtime):
                return member
        return None

    def _int_field(self, name: str, value: int) -> str:
        text = str(value)
        if name == "class_id":
            return escape(describe_class(value))
        if name == "security_control" and 0 <= value <= 0xFF:
            return f"0x{value:02X} [dim]({escape(security_control_text(value))})[/]"
        if name in ("source_wport", "destination_wport") and value in WPORT_NAMES:
            return f"{text} [dim]({escape(WPORT_NAMES[value])})[/]"
        if name in ("tag", "invocation_counter", "variable_name", "base_name") and value >= 0:
            extra = APDU_NAMES.get(value, "") if name == "tag" else ""
            return f"{text} [dim](0x{value:02X}{' ' + escape(extra) if extra else ''})[/]"
        return text

    def _bytes_field(self, node: Tree, name: str, label: str, value: bytes) -> None:
        if name in NESTED_APDU_FIELDS and value and self.decode_nested is not None:
            nested = self.decode_nested(value)
            if nested is not None:
                node.add(self.apdu_tree(nested, prefix=label))
                return
        text = self._hex(value)
        if name in ("date_time", "time", "current_time") and len(value) == 12:
            with contextlib.suppress(CosemnetError):
                text += f" [green]= {escape(str(CosemDateTime.from_bytes(value)))}[/]"
        if "system_title" in name or name.endswith("ap_title"):
            note = system_title_note(value)
            if note:
                text += f" [dim]({escape(note)})[/]"
        if name == "ciphered_content" and len(value) >= 5:
            sub = node.add(label + text)
            header, payload = split_ciphered_content(value)
            sc = header.security_control
            sub.add(f"[blue]security_control[/]: 0x{sc:02X} [dim]({escape(security_control_text(sc))})[/]")
            ic = header.invocation_counter
            sub.add(f"[blue]invocation_counter[/]: {ic} (0x{ic:08X})")
            what = _payload_description(sc, len(payload))
            sub.add(f"[blue]payload[/]: {self._hex(payload, describe=False)} [dim]({escape(what)})[/]")
            return
        node.add(label + text)

    def _hex(self, value: bytes, describe: bool = True) -> str:
        """Upper-case hex, cut after ``max_bytes``; the length is added when it helps (``describe``)."""
        limit = self.options.max_bytes
        if not value:
            return "[dim](empty)[/]"
        if limit is not None and len(value) > limit:
            return f"{value[:limit].hex().upper()}[dim]… ({len(value)} bytes)[/]"
        if describe and len(value) > 8:
            return f"{value.hex().upper()} [dim]({len(value)} bytes)[/]"
        return value.hex().upper()

    @staticmethod
    def _enum(value: enum.Enum) -> str:
        number = int(value.value) if isinstance(value.value, int) else value.value
        if isinstance(value, enum.Flag):
            names = [m.name for m in type(value) if m.name and m in value]
            text = " | ".join(names) if names else "(none)"
            return f"{escape(text)} [dim](0x{number:06X})[/]"
        if isinstance(getattr(type(value), "code", None), property) and isinstance(number, int):
            # A flat enum over a CHOICE (ServiceError, AssociateSourceDiagnostic): value = tag << 8 | code;
            # show what is on the wire.
            return f"{escape(value.name or str(number))} [dim](choice [{number >> 8}], {number & 0xFF})[/]"
        return f"{escape(value.name or str(number))} [dim]({number})[/]"

    @staticmethod
    def _obis(value: Obis) -> str:
        name = obis_name(value)
        text = f"[magenta]{value}[/]"
        return text + (f" [dim]({escape(name)})[/]" if name else "")

    def _limited(self, values: Any) -> tuple[list[Any], int]:
        """The items to show and how many are left out (``max_items``)."""
        items: list[Any] = list(values)
        limit = self.options.max_items
        if limit is not None and len(items) > limit:
            return items[:limit], len(items) - limit
        return items, 0

    @staticmethod
    def _more(node: Tree, hidden: int) -> None:
        if hidden:
            node.add(f"[dim]… {hidden} more item(s) not shown (use --full)[/]")

    # ---------------------------------------------------------------------------------------------
    # COSEM Data values

    def data(self, parent: Tree, value: Any, label: str = "") -> None:
        tag = data_tag(value)
        name = f"[cyan]{tag.dlms_name}[/]"
        if tag in (Tag.ARRAY, Tag.STRUCTURE):
            node = parent.add(f"{label}{name} [dim]({len(value)} item(s))[/]")
            shown, hidden = self._limited(value)
            for index, item in enumerate(shown):
                self.data(node, item, f"[dim][{index}][/] ")
            self._more(node, hidden)
            return
        if tag == Tag.COMPACT_ARRAY:
            assert isinstance(value, CompactArray)
            node = parent.add(f"{label}{name} [dim]({len(value.values)} item(s))[/]")
            node.add(f"[blue]type[/]: {escape(_type_description_text(value.type_description))}")
            values = node.add("[blue]values[/]")
            shown, hidden = self._limited(value.values)
            for index, item in enumerate(shown):
                self.data(values, item, f"[dim][{index}][/] ")
            self._more(values, hidden)
            return
        parent.add(f"{label}{name} {self._scalar(tag, value)}")

    def _scalar(self, tag: Tag, value: Any) -> str:
        if tag == Tag.OCTET_STRING:
            raw = bytes(value)
            text = self._hex(raw)
            note = _octet_string_note(raw)
            return text + (f" [green]= {escape(note)}[/]" if note else "")
        if tag in (Tag.VISIBLE_STRING, Tag.UTF8_STRING):
            return escape(repr(str(value)))
        if tag == Tag.BOOLEAN:
            return "true" if value else "false"
        if tag in (Tag.NULL_DATA, Tag.DONT_CARE):
            return ""
        if tag == Tag.BIT_STRING:
            assert isinstance(value, BitString)
            return f"{value.bits() or '(empty)'} [dim]({value.length} bits)[/]"
        if tag in (Tag.DATE_TIME, Tag.DATE, Tag.TIME):
            return f"[green]{escape(str(value))}[/] [dim]({value.to_bytes().hex().upper()})[/]"
        if tag in (Tag.FLOAT32, Tag.FLOAT64):
            return repr(float(value))
        if tag == Tag.BCD:
            return f"0x{int(value):02X}"
        return str(int(value))


def _payload_description(sc: int, size: int) -> str:
    encrypted, authenticated = bool(sc & 0x20), bool(sc & 0x10)
    if encrypted and authenticated:
        return f"{size} bytes: ciphertext {max(size - 12, 0)} + tag 12"
    if encrypted:
        return f"{size} bytes: ciphertext"
    if authenticated:
        return f"{size} bytes: plaintext {max(size - 12, 0)} + tag 12"
    return f"{size} bytes: plaintext"


def _octet_string_note(raw: bytes) -> str:
    """A reading of an octet-string that is probably something else: date-time, OBIS code, text."""
    if len(raw) == 12:
        try:
            return f"date-time {CosemDateTime.from_bytes(raw)}"
        except CosemnetError:
            pass
    if len(raw) == 6:
        name = obis_name(raw)
        if name:
            return f"OBIS {Obis(raw)} ({name})"
    if len(raw) >= 3 and all(0x20 <= b < 0x7F for b in raw):
        return repr(raw.decode("ascii"))
    return ""


def _type_description_text(desc: TypeDescription) -> str:
    if desc.tag == Tag.STRUCTURE:
        return "structure {" + ", ".join(_type_description_text(e) for e in desc.elements) + "}"
    if desc.tag == Tag.ARRAY:
        inner = _type_description_text(desc.elements[0]) if desc.elements else "?"
        return f"array[{desc.count}] of {inner}"
    return desc.tag.dlms_name


__all__ = [
    "APDU_NAMES",
    "WPORT_NAMES",
    "Decryption",
    "TreeBuilder",
    "TreeExtension",
    "TreeOptions",
    "security_control_text",
    "system_title_note",
]
