"""Firmware campaign bytes on the wire vs image size (issue 12; target: at most 1.25x the image at 5 % loss).

::

    .venv/bin/python benchmarks/firmware.py                    # 100 meters, 64 KiB, blocks 200 and 1024
    .venv/bin/python benchmarks/firmware.py --quick --json     # 20 meters
    .venv/bin/python benchmarks/firmware.py --meters 100 --block-size 512 --image-kib 128

Layout: for each (block size, loss) a fresh head-end (:class:`cosemnet.headend.HeadEndService`, file
database) and a fresh in-process fleet (:class:`cosemnet.simulator.mesh_fleet.MeshFleet` on ``::1``,
every meter with an image transfer object of that image_block_size); once every meter is registered
(and associated, so that every scenario pays the same), one campaign (decision 0116: probe, initiate,
every block, status read and repair, verify, activate, check) is run to its end. Measured: the UDP
payload bytes the head-end sends during the campaign (wrapper frames, general-glo ciphering and
GMAC tags included; :attr:`HeadEndService.bytes_sent`), per meter and as a ratio to the image size;
block requests sent (retries included) against the blocks needed. Checked: every meter activated and
holding the image. The fleet's loss drops datagrams the meters send (answers): each lost answer of a
block costs one retransmission of that block. Group scenarios (decision 0117): the fleet's group
gateway stands for the mesh's multicast forwarding; each block goes once as an unconfirmed group
request to group 0 (every meter), then each meter's status read and unicast repair.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from cosemnet.cosem.image_transfer import ImageTransferStatus
from cosemnet.headend import HeadEnd, HeadEndConfig, HeadEndService
from cosemnet.headend.firmware import FirmwareCampaign
from cosemnet.headend.firmware_service import run_campaign
from cosemnet.headend.firmware_store import FirmwareStore
from cosemnet.profiles.mesh import AddressBook, ThrottleConfig
from cosemnet.simulator.mesh_fleet import FleetConfig, MeshFleet


async def _scenario(
    args: argparse.Namespace, block_size: int, loss: float, image: bytes, group: bool
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "hes.db"
        book = AddressBook(db, synchronous="NORMAL")
        throttle = ThrottleConfig(
            max_per_prefix=args.max_per_prefix, max_per_border_router=args.max_per_prefix, rto_min=0.05
        )
        head_end = HeadEnd(book, config=HeadEndConfig(throttle=throttle))
        service = HeadEndService(head_end)
        await service.start("::1", 0)
        fleet = MeshFleet(
            FleetConfig(
                meters=args.meters,
                head_end=service.local_address,
                gateway_port=0 if group else None,
                image_block_size=block_size,
            )
        )
        await fleet.start()
        service.group_gateway = fleet.group_gateway
        store = FirmwareStore(db)
        try:
            if not await fleet.wait_registered(120):
                raise SystemExit("the fleet did not register")
            titles = [n.meter.identity.system_title for n in fleet.nodes]
            setup = await service.collect([], system_titles=titles)  # associations: same start for all
            assert not setup.failed
            fleet.config.loss = loss
            lost0, bytes0 = fleet.stats.lost, service.bytes_sent
            started = time.perf_counter()
            campaign = FirmwareCampaign.create(
                store, b"bench-fw", image, titles, service.clock(), group_id=0 if group else None
            )
            assert await run_campaign(service, campaign, group_interval=args.group_interval) is None
            seconds = time.perf_counter() - started
            sent = service.bytes_sent - bytes0
            for node in fleet.nodes:
                it = node.meter.image_transfer
                assert it is not None and it.image == image
                assert it.status is ImageTransferStatus.ACTIVATION_SUCCESSFUL
            blocks = -(-len(image) // block_size)
            return {
                "blocks": "group" if group else "unicast",
                "block_size": block_size,
                "loss": loss,
                "meters": args.meters,
                "image_size": len(image),
                "activated": campaign.counts()["activated"],
                "blocks_needed": blocks * args.meters,
                "blocks_sent": campaign.blocks_sent,
                "group_blocks_sent": campaign.group_blocks_sent,
                "answers_lost": fleet.stats.lost - lost0,
                "bytes_on_wire": sent,
                "bytes_per_meter": round(sent / args.meters),
                "ratio": round(sent / (len(image) * args.meters), 4),
                "seconds": round(seconds, 2),
                "rounds": campaign.rounds,
            }
        finally:
            store.close()
            await fleet.stop()
            await service.close()
            book.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--meters", type=int, default=100)
    parser.add_argument("--image-kib", type=int, default=64)
    parser.add_argument("--block-size", type=int, action="append", help="repeat; default 200 and 1024")
    parser.add_argument("--loss", type=float, action="append", help="repeat; default 0 and 0.05")
    parser.add_argument("--max-per-prefix", type=int, default=32)
    parser.add_argument("--quick", action="store_true", help="20 meters")
    parser.add_argument("--no-group", action="store_true", help="unicast scenarios only")
    parser.add_argument("--group-only", action="store_true", help="group-block scenarios only")
    parser.add_argument("--group-interval", type=float, default=0.02, help="seconds between group blocks")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.meters = 20
    image = os.urandom(args.image_kib * 1024)
    results = []
    modes = [m for m in (False, True) if not (m and args.no_group) and not (not m and args.group_only)]
    for group in modes:
        for block_size in args.block_size or [200, 1024]:
            for loss in args.loss if args.loss is not None else [0.0, 0.05]:
                result = asyncio.run(_scenario(args, block_size, loss, image, group))
                results.append(result)
                if args.json:
                    continue
                print(
                    f"{result['blocks']:>7} block {block_size:>5} B, loss {loss:>4.0%}: "
                    f"{result['bytes_per_meter']:>7} B/meter, ratio {result['ratio']:.3f}, "
                    f"blocks {result['blocks_sent']}/{result['blocks_needed']} "
                    f"({result['answers_lost']} answers lost), {result['seconds']} s",
                    flush=True,
                )
    if args.json:
        print(json.dumps({"python": platform.python_version(), "results": results}))
    sys.exit(0)


if __name__ == "__main__":
    main()
