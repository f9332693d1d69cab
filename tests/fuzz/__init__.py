"""Fuzz smoke run (issue 9): every decoder and the stateful receive paths, with deterministic seeds.

Run longer with ``COSEMNET_FUZZ_SCALE=10 .venv/bin/pytest -q tests/fuzz -s`` (input counts x10; ``-s``
prints the count per target) and other seeds with ``COSEMNET_FUZZ_SEED=<n>``. See engine.py.
"""
