"""``cosemnet lon set`` and ``lon action``: the data concentrator's SET and ACTION on one LON meter over
CN/IP (issue 12 item 1 for the LON data concentrator).

The meter is reached as ``cosemnet read --profile lon`` reaches it (:class:`~cosemnet.cli.lon_read.
LonCnipClient`: the concentrator's endpoint over a CN/IP UDP port, 14908-1 subnet/node addressing);
with ``--key-file`` (the concentrator's key store) through an OSGP-AES-128-PSK secure channel on the
protected management association, which is the one that may write and invoke. The target and value use
``hes set`` / ``hes action``'s grammar (``CLASS/OBIS/INDEX``, ``--value`` JSON / ``TYPE:VALUE`` /
``now``). LN referencing only: the short-name services stay with ``cosemnet read --sn``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click

from cosemnet.cli.hes_ops import parse_value
from cosemnet.cli.lon import lon_group
from cosemnet.cli.lon_read import lon_client_factory
from cosemnet.cli.params import AttributeSpec, AttributeSpecValue
from cosemnet.cli.read import parse_host
from cosemnet.client.connection import ClientConfig
from cosemnet.client.errors import AccessError, ClientError
from cosemnet.codec.jsonform import data_to_json
from cosemnet.codec.types import DataValue
from cosemnet.errors import CosemnetError
from cosemnet.simulator.lon_segment import DOMAIN_ID

__all__ = ["lon_action_command", "lon_set_command"]

EPILOG = """\b
Examples:
  cosemnet sim lon --channel cnip --meters 2 --port 16280 --key-file keys.json --json   (another terminal)
  cosemnet lon action --segment 127.0.0.1:16301 --node 1/3 --local 127.0.0.1:16280 \\
      --key-file keys.json --obis 70/0-0:96.3.10*255/1 --value integer:0
  cosemnet lon set --segment 127.0.0.1:16301 --node 1/3 --local 127.0.0.1:16280 \\
      --key-file keys.json --obis 8/0-0:1.0.0*255/2 --value now
"""


def _options(what: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    def wrap(f: Any) -> Any:
        options = [
            click.option("--segment", required=True, metavar="HOST[:PORT]", help="The meter's CN/IP peer."),
            click.option("--node", required=True, metavar="SUBNET/NODE", help="The meter's 14908-1 address."),
            click.option(
                "--local",
                required=True,
                metavar="HOST:PORT",
                help="This concentrator's CN/IP address (where the meter answers).",
            ),
            click.option("--domain", default=DOMAIN_ID.hex(), show_default=True, help="Domain ID (hex)."),
            click.option(
                "--key-file",
                type=click.Path(dir_okay=False),
                help="The concentrator's key store (mode 0600): secure channel, management association.",
            ),
            click.option(
                "--obis", "target", required=True, help=f"CLASS/OBIS/{what} (as `hes set` / `hes action`)."
            ),
            click.option("--value", help='JSON Data ({"integer": 0}), TYPE:VALUE, `now` or `null`.'),
            click.option("--timeout", type=click.FloatRange(0.1, 600), default=10.0, show_default=True),
            click.option("--json", "as_json", is_flag=True, help="One JSON object."),
        ]
        for option in reversed(options):
            f = option(f)
        return f

    return wrap


def _run(kind: str, opts: dict[str, Any]) -> None:
    spec: AttributeSpecValue = AttributeSpec().convert(opts["target"], None, None)
    class_id = spec.class_id
    if class_id is None:
        raise click.BadParameter("give CLASS/OBIS/INDEX", param_hint="--obis")
    value = parse_value(opts["value"])
    host = opts["segment"]
    peer = parse_host(host)
    open_client = lon_client_factory(
        host,
        peer,
        ClientConfig(),
        opts["timeout"],
        opts["node"],
        opts["local"],
        opts["domain"],
        opts["key_file"],
    )
    obis, index = spec.logical_name, spec.attribute_id
    target = str(spec)
    returned: DataValue = None
    try:
        with open_client(None) as client:
            if kind == "set":
                client.set_attribute(class_id, obis, index, value)
            else:
                returned = client.invoke_method(class_id, obis, index, value)
    except AccessError as exc:
        _print(kind, target, exc.result.name.lower().replace("_", "-"), None, opts["as_json"])
        raise SystemExit(1) from None
    except (ClientError, CosemnetError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    _print(kind, target, "success", returned, opts["as_json"])


def _print(kind: str, target: str, result: str, returned: DataValue, as_json: bool) -> None:
    if as_json:
        line: dict[str, Any] = {"operation": kind, "target": target, "result": result}
        if returned is not None:
            line["return"] = data_to_json(returned)
        click.echo(json.dumps(line))
    else:
        click.echo(f"{kind} {target}: {result}" + ("" if returned is None else f" ({returned!r})"))


@lon_group.command("set", epilog=EPILOG)
@_options("ATTR")
def lon_set_command(**opts: Any) -> None:
    """SET one attribute of a LON meter over CN/IP (the concentrator's write).

    Exits 0 when the meter accepted it, 1 when it refused (its data-access-result printed) or did not
    answer, 2 on bad usage."""
    _run("set", opts)


@lon_group.command("action", epilog=EPILOG)
@_options("METHOD")
def lon_action_command(**opts: Any) -> None:
    """Invoke one method of a LON meter over CN/IP (e.g. class 70 remote_disconnect).

    Exits 0 when the meter executed it, 1 when it refused (its action-result printed) or did not answer,
    2 on bad usage."""
    _run("action", opts)
