"""``python -m cosemnet.cli``: the same as the ``cosemnet`` command."""

from cosemnet.cli.main import main

main()
