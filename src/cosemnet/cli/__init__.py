"""The ``cosemnet`` command line (click + rich): ``decode``, ``encode``, ``demo``."""
