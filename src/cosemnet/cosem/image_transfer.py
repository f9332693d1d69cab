"""Image transfer (class_id 18, version 0): firmware download in blocks.

Attributes: 2 image_block_size double-long-unsigned, 3 image_transferred_blocks_status bit-string
(bit n = block n received), 4 image_first_not_transferred_block_number double-long-unsigned,
5 image_transfer_enabled boolean, 6 image_transfer_status enum, 7 image_to_activate_info (array of
{image_to_activate_size double-long-unsigned, image_to_activate_identification octet-string,
image_to_activate_signature octet-string}). Methods (x + 0x40 ...): 1 image_transfer_initiate
{image_identifier octet-string, image_size double-long-unsigned}, 2 image_block_transfer
{image_block_number double-long-unsigned, image_block_value octet-string}, 3 image_verify
(integer 0), 4 image_activate (integer 0).

Blocks may arrive in any order and be sent again. image_verify checks that every block arrived,
assembles the image, checks its length and its SHA-256 digest against ``trusted_digests`` (identifier
-> digest, when configured) and the optional ``verifier`` callable (identifier, image) -> bool; the
image_to_activate_signature is the image's SHA-256 digest. image_activate verifies first if needed,
then hands the assembled image to ``ctx.effects.activate_image``.

Design choices where the standard is silent:

* initiate while transfer is disabled, a block or verify with no transfer initiated, or activate with
  nothing to activate fail with read-write-denied; a block number out of range, a block of the wrong
  length (every block is image_block_size bytes but the last, which holds the rest), an image larger
  than ``max_image_size`` or empty fail with other-reason; a failed verification fails with other-reason and
  leaves the status at verification failed (more blocks may then be sent);
* image_transfer_initiate with the identifier and size of the transfer in progress keeps the blocks
  received so far (resume); any other initiate starts afresh;
* with ``require_trusted_digest`` an identifier missing from ``trusted_digests`` fails verification.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from enum import IntEnum
from typing import ClassVar

from cosemnet.codec.obis import Obis
from cosemnet.codec.types import BitString, DataValue, DoubleLongUnsigned, Enumerated
from cosemnet.cosem.base import (
    LOGICAL_NAME_DEF,
    AttributeDef,
    InterfaceClass,
    MethodDef,
    SelectiveAccess,
    read_only,
)
from cosemnet.cosem.context import AccessContext
from cosemnet.cosem.register import check_zero_parameter
from cosemnet.cosem.results import ActionResult, CosemAccessError
from cosemnet.cosem.values import as_bool, as_int, as_octet_string, as_struct

IMAGE_TRANSFER_LN = Obis(bytes((0, 0, 44, 0, 0, 255)))

ImageVerifier = Callable[[bytes, bytes], bool]


class ImageTransferStatus(IntEnum):
    NOT_INITIATED = 0
    INITIATED = 1
    VERIFICATION_INITIATED = 2
    VERIFICATION_SUCCESSFUL = 3
    VERIFICATION_FAILED = 4
    ACTIVATION_INITIATED = 5
    ACTIVATION_SUCCESSFUL = 6
    ACTIVATION_FAILED = 7


def _fail(reason: str) -> CosemAccessError:
    return CosemAccessError(ActionResult.OTHER_REASON, reason)


def _denied(reason: str) -> CosemAccessError:
    return CosemAccessError(ActionResult.READ_WRITE_DENIED, reason)


class ImageTransfer(InterfaceClass):
    """Image transfer."""

    CLASS_ID: ClassVar[int] = 18
    VERSION: ClassVar[int] = 0
    ATTRIBUTES: ClassVar[tuple[AttributeDef, ...]] = (
        LOGICAL_NAME_DEF,
        AttributeDef(2, "image_block_size", True, 0x08),
        AttributeDef(3, "image_transferred_blocks_status", False, 0x10),
        AttributeDef(4, "image_first_not_transferred_block_number", False, 0x18),
        AttributeDef(5, "image_transfer_enabled", True, 0x20),
        AttributeDef(6, "image_transfer_status", False, 0x28),
        AttributeDef(7, "image_to_activate_info", False, 0x30),
    )
    METHODS: ClassVar[tuple[MethodDef, ...]] = (
        MethodDef(1, "image_transfer_initiate", 0x40),
        MethodDef(2, "image_block_transfer", 0x48),
        MethodDef(3, "image_verify", 0x50),
        MethodDef(4, "image_activate", 0x58),
    )

    def __init__(
        self,
        logical_name: Obis | str | bytes = IMAGE_TRANSFER_LN,
        image_block_size: int = 192,
        *,
        image_transfer_enabled: bool = True,
        max_image_size: int = 16 * 1024 * 1024,
        trusted_digests: Mapping[bytes, bytes] | None = None,
        require_trusted_digest: bool = False,
        verifier: ImageVerifier | None = None,
        base_name: int | None = None,
    ) -> None:
        super().__init__(logical_name, base_name=base_name)
        if image_block_size <= 0:
            raise ValueError("image_block_size must be positive")
        self.image_block_size = image_block_size
        self.image_transfer_enabled = image_transfer_enabled
        self.max_image_size = max_image_size
        self.trusted_digests: dict[bytes, bytes] = dict(trusted_digests or {})
        self.require_trusted_digest = require_trusted_digest
        self.verifier = verifier
        self.status = ImageTransferStatus.NOT_INITIATED
        self.image_identifier = b""
        self.image_size = 0
        self._blocks: dict[int, bytes] = {}
        self.image: bytes | None = None
        """The assembled image, once verified."""
        self.image_to_activate_info: list[tuple[int, bytes, bytes]] = []

    # ----------------------------------------------------------------------------------------------

    @property
    def block_count(self) -> int:
        return -(-self.image_size // self.image_block_size)

    def block_length(self, number: int) -> int:
        """Expected length of block ``number``."""
        if number == self.block_count - 1:
            return self.image_size - number * self.image_block_size
        return self.image_block_size

    def transferred_blocks_status(self) -> BitString:
        n = self.block_count
        data = bytearray((n + 7) // 8)
        for number in self._blocks:
            data[number >> 3] |= 0x80 >> (number & 7)
        return BitString(bytes(data), n)

    def first_not_transferred_block_number(self) -> int:
        for number in range(self.block_count):
            if number not in self._blocks:
                return number
        return self.block_count

    def initiate(self, image_identifier: bytes, image_size: int) -> None:
        if not self.image_transfer_enabled:
            raise _denied("image transfer disabled")
        if image_size == 0:
            raise _fail("image_size 0")
        if image_size > self.max_image_size:
            raise _fail(f"image of {image_size} bytes exceeds {self.max_image_size}")
        resume = (
            self.status in (ImageTransferStatus.INITIATED, ImageTransferStatus.VERIFICATION_FAILED)
            and image_identifier == self.image_identifier
            and image_size == self.image_size
        )
        if not resume:
            self._blocks = {}
            self.image_identifier = image_identifier
            self.image_size = image_size
        self.image = None
        self.image_to_activate_info = []
        self.status = ImageTransferStatus.INITIATED

    def transfer_block(self, number: int, value: bytes) -> None:
        if self.status not in (ImageTransferStatus.INITIATED, ImageTransferStatus.VERIFICATION_FAILED):
            raise _denied("no image transfer initiated")
        if not self.image_transfer_enabled:
            raise _denied("image transfer disabled")
        if number >= self.block_count:
            raise _fail(f"block {number} beyond the {self.block_count} blocks of the image")
        if len(value) != self.block_length(number):
            raise _fail(f"block {number} has {len(value)} bytes, expected {self.block_length(number)}")
        self._blocks[number] = value
        self.status = ImageTransferStatus.INITIATED

    def verify(self) -> None:
        if self.status is ImageTransferStatus.VERIFICATION_SUCCESSFUL:
            return
        if self.status not in (ImageTransferStatus.INITIATED, ImageTransferStatus.VERIFICATION_FAILED):
            raise _denied("no image to verify")
        self.status = ImageTransferStatus.VERIFICATION_INITIATED
        problem = self._check()
        if problem is not None:
            self.status = ImageTransferStatus.VERIFICATION_FAILED
            raise _fail(problem)

    def _check(self) -> str | None:
        missing = self.first_not_transferred_block_number()
        if missing < self.block_count:
            return f"block {missing} not transferred"
        image = b"".join(self._blocks[n] for n in range(self.block_count))
        if len(image) != self.image_size:
            return "image length differs from image_size"
        digest = hashlib.sha256(image).digest()
        expected = self.trusted_digests.get(self.image_identifier)
        if expected is None and self.require_trusted_digest:
            return "no trusted digest for this image identifier"
        if expected is not None and expected != digest:
            return "SHA-256 digest mismatch"
        if self.verifier is not None and not self.verifier(self.image_identifier, image):
            return "image verifier refused the image"
        self.image = image
        self.image_to_activate_info = [(len(image), self.image_identifier, digest)]
        self.status = ImageTransferStatus.VERIFICATION_SUCCESSFUL
        return None

    def activate(self, ctx: AccessContext) -> None:
        if self.status is not ImageTransferStatus.VERIFICATION_SUCCESSFUL:
            self.verify()
        assert self.image is not None
        self.status = ImageTransferStatus.ACTIVATION_INITIATED
        try:
            ctx.effects.activate_image(self, self.image_identifier, self.image, ctx)
        except CosemAccessError:
            self.status = ImageTransferStatus.ACTIVATION_FAILED
            raise
        self.status = ImageTransferStatus.ACTIVATION_SUCCESSFUL

    # ----------------------------------------------------------------------------------------------

    def _get(self, index: int, ctx: AccessContext, selective_access: SelectiveAccess | None) -> DataValue:
        if index == 2:
            return DoubleLongUnsigned(self.image_block_size)
        if index == 3:
            return self.transferred_blocks_status()
        if index == 4:
            return DoubleLongUnsigned(self.first_not_transferred_block_number())
        if index == 5:
            return self.image_transfer_enabled
        if index == 6:
            return Enumerated(self.status)
        return [(DoubleLongUnsigned(size), ident, sig) for size, ident, sig in self.image_to_activate_info]

    def _set(self, index: int, value: DataValue, ctx: AccessContext) -> None:
        if index != 5:
            raise read_only(index)
        self.image_transfer_enabled = as_bool(value, "image_transfer_enabled")

    def _action(self, index: int, parameter: DataValue, ctx: AccessContext) -> DataValue | None:
        if index == 1:
            identifier, size = as_struct(parameter, 2, "image_transfer_initiate")
            self.initiate(
                as_octet_string(identifier, what="image_identifier"),
                as_int(size, DoubleLongUnsigned, "image_size"),
            )
        elif index == 2:
            number, value = as_struct(parameter, 2, "image_block_transfer")
            self.transfer_block(
                as_int(number, DoubleLongUnsigned, "image_block_number"),
                as_octet_string(value, what="image_block_value"),
            )
        elif index == 3:
            check_zero_parameter(parameter)
            self.verify()
        else:
            check_zero_parameter(parameter)
            self.activate(ctx)
        return None


__all__ = ["IMAGE_TRANSFER_LN", "ImageTransfer", "ImageTransferStatus", "ImageVerifier"]
