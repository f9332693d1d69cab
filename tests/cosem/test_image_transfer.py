"""Image transfer end to end: initiate, blocks out of order, verify, activate."""

from __future__ import annotations

import hashlib
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cosemnet.codec.types import BitString, DoubleLongUnsigned, Enumerated, Integer
from cosemnet.cosem import AccessContext, ImageTransfer, ImageTransferStatus
from cosemnet.cosem.results import ActionResult, CosemAccessError, DataAccessResult

from .helpers import T0, meter

IMAGE = bytes(range(256)) * 3 + b"tail"  # 772 bytes
BLOCK = 64


def setup(**kwargs: object) -> tuple[ImageTransfer, AccessContext]:
    device, effects = meter()
    image = device.add(ImageTransfer(image_block_size=BLOCK, **kwargs))  # type: ignore[arg-type]
    return image, AccessContext(now=T0, effects=effects)


def blocks(data: bytes = IMAGE) -> list[bytes]:
    return [data[i : i + BLOCK] for i in range(0, len(data), BLOCK)]


def initiate(
    image: ImageTransfer, ctx: AccessContext, ident: bytes = b"FW-2.0", size: int = len(IMAGE)
) -> None:
    image.action(1, (ident, DoubleLongUnsigned(size)), ctx)


def send(image: ImageTransfer, ctx: AccessContext, number: int, value: bytes) -> None:
    image.action(2, (DoubleLongUnsigned(number), value), ctx)


def test_end_to_end_out_of_order() -> None:
    image, ctx = setup(trusted_digests={b"FW-2.0": hashlib.sha256(IMAGE).digest()})
    initiate(image, ctx)
    assert image.get(6, ctx) == Enumerated(ImageTransferStatus.INITIATED)
    parts = blocks()
    assert len(parts) == 13
    order = list(range(13))
    random.Random(4).shuffle(order)
    for n in order[:-1]:
        send(image, ctx, n, parts[n])
    missing = order[-1]
    status = image.get(3, ctx)
    assert isinstance(status, BitString) and status.length == 13
    assert [status[i] for i in range(13)] == [i != missing for i in range(13)]
    assert image.get(4, ctx) == DoubleLongUnsigned(missing)
    with pytest.raises(CosemAccessError) as info:
        image.action(3, Integer(0), ctx)  # verify: a block is missing
    assert info.value.result is ActionResult.OTHER_REASON
    assert image.status is ImageTransferStatus.VERIFICATION_FAILED
    send(image, ctx, missing, parts[missing])
    send(image, ctx, 0, parts[0])  # re-sending a block is fine
    assert image.get(4, ctx) == DoubleLongUnsigned(13)
    image.action(3, Integer(0), ctx)
    assert image.status is ImageTransferStatus.VERIFICATION_SUCCESSFUL
    assert image.image == IMAGE
    assert image.get(7, ctx) == [(DoubleLongUnsigned(len(IMAGE)), b"FW-2.0", hashlib.sha256(IMAGE).digest())]
    image.action(4, Integer(0), ctx)
    assert image.status is ImageTransferStatus.ACTIVATION_SUCCESSFUL
    assert ctx.effects.recorded.activations == [(b"FW-2.0", IMAGE)]  # type: ignore[attr-defined]


def test_digest_mismatch_and_verifier() -> None:
    image, ctx = setup(trusted_digests={b"FW-2.0": hashlib.sha256(b"other").digest()})
    initiate(image, ctx)
    for n, part in enumerate(blocks()):
        send(image, ctx, n, part)
    with pytest.raises(CosemAccessError):
        image.action(3, Integer(0), ctx)
    assert image.status is ImageTransferStatus.VERIFICATION_FAILED and image.image is None
    strict, ctx2 = setup(require_trusted_digest=True)
    initiate(strict, ctx2)
    for n, part in enumerate(blocks()):
        send(strict, ctx2, n, part)
    with pytest.raises(CosemAccessError):
        strict.verify()
    picky, ctx3 = setup(verifier=lambda ident, data: data.endswith(b"tail"))
    initiate(picky, ctx3)
    tampered = blocks(IMAGE[:-4] + b"TAIL")
    for n, part in enumerate(tampered):
        send(picky, ctx3, n, part)
    with pytest.raises(CosemAccessError):
        picky.verify()
    send(picky, ctx3, len(tampered) - 1, blocks()[-1])
    picky.verify()


def test_activate_verifies_first_and_reports_failures() -> None:
    image, ctx = setup()
    initiate(image, ctx)
    for n, part in enumerate(blocks()):
        send(image, ctx, n, part)
    ctx.effects.fail_activation = True  # type: ignore[attr-defined]
    with pytest.raises(CosemAccessError) as info:
        image.action(4, Integer(0), ctx)
    assert info.value.result is ActionResult.HARDWARE_FAULT
    assert image.status is ImageTransferStatus.ACTIVATION_FAILED
    with pytest.raises(CosemAccessError) as info:
        image.action(4, Integer(0), ctx)  # nothing verified to activate any more
    assert info.value.result is ActionResult.READ_WRITE_DENIED


def test_block_and_state_errors() -> None:
    image, ctx = setup(max_image_size=1000)
    with pytest.raises(CosemAccessError) as info:
        send(image, ctx, 0, IMAGE[:BLOCK])  # nothing initiated
    assert info.value.result is ActionResult.READ_WRITE_DENIED
    with pytest.raises(CosemAccessError) as info:
        initiate(image, ctx, size=1001)
    assert info.value.result is ActionResult.OTHER_REASON
    with pytest.raises(CosemAccessError):
        initiate(image, ctx, size=0)
    initiate(image, ctx)
    for number, value in ((13, IMAGE[:BLOCK]), (0, IMAGE[:10]), (12, IMAGE[:BLOCK])):
        with pytest.raises(CosemAccessError) as info:
            send(image, ctx, number, value)
        assert info.value.result is ActionResult.OTHER_REASON
    with pytest.raises(CosemAccessError) as info:
        image.action(2, (Integer(0), b""), ctx)
    assert info.value.result is ActionResult.TYPE_UNMATCHED
    image.set(5, False, ctx)
    with pytest.raises(CosemAccessError) as info:
        initiate(image, ctx)
    assert info.value.result is ActionResult.READ_WRITE_DENIED
    with pytest.raises(CosemAccessError) as info:
        image.set(2, DoubleLongUnsigned(1), ctx)
    assert info.value.result is DataAccessResult.READ_WRITE_DENIED


def test_resume_keeps_blocks_but_a_new_image_starts_afresh() -> None:
    image, ctx = setup()
    initiate(image, ctx)
    send(image, ctx, 0, blocks()[0])
    initiate(image, ctx)  # same identifier and size: resume
    assert image.get(4, ctx) == DoubleLongUnsigned(1)
    initiate(image, ctx, ident=b"FW-2.1")
    assert image.get(4, ctx) == DoubleLongUnsigned(0)


@settings(max_examples=40)
@given(st.binary(min_size=1, max_size=300), st.integers(1, 40), st.randoms(use_true_random=False))
def test_any_image_any_order_assembles(data: bytes, block_size: int, rnd: random.Random) -> None:
    image = ImageTransfer(image_block_size=block_size)
    image.initiate(b"X", len(data))
    parts = [data[i : i + block_size] for i in range(0, len(data), block_size)]
    order = list(range(len(parts)))
    rnd.shuffle(order)
    for n in order:
        image.transfer_block(n, parts[n])
    image.verify()
    assert image.image == data
    assert image.transferred_blocks_status() == BitString.from_bits("1" * len(parts))
