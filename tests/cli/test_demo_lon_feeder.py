"""The feeder part of the demo's LON section: a third of the meters are out of the concentrator's direct
reach; all are discovered, commissioned and read, the far ones through 1-3 repeaters, shown per meter."""

from __future__ import annotations

from rich.console import Console

from cosemnet.cli.demo_lon_feeder import demo_topology, run_feeder_demo


def test_feeder_demo_reads_every_meter_through_the_repeaters_it_needs() -> None:
    console = Console(record=True, width=200, highlight=False)
    summary = run_feeder_demo(console)
    text = console.export_text()
    topology = demo_topology()
    radio_hops = topology.hops_from_root()[1:]
    far = [i for i, h in enumerate(radio_hops) if h is not None and h > 1]
    assert len(far) * 3 >= len(radio_hops) - 1 and far  # about a third need a repeater
    assert summary["ok"] is True
    assert summary["meters"] == summary["discovered"] == summary["commissioned"] == summary["read_ok"]
    assert summary["out_of_direct_reach"] == len(far)
    rows = summary["meters_by_hops"]
    for index, row in enumerate(rows):
        minimum = (radio_hops[index] or 1) - 1  # a route cannot have fewer repeaters than the radio needs
        assert row["hops"] is not None and row["hops"] >= minimum, row
        assert row["state"] == "in_service" and row["read_ok"]
        assert " → ".join(["DC", *row["route"], row["meter"]]) in text
    assert {row["hops"] for i, row in enumerate(rows) if i in far} <= {1, 2, 3}
    assert summary["repeated_reads"] == len(far)
    assert "out of the concentrator's direct reach" in text and "✗" not in text
