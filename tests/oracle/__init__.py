"""Tests that check cosemnet against independent implementations (oracles)."""
