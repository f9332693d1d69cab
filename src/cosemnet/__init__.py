"""cosemnet: a DLMS/COSEM stack for smart-meter neighbourhood networks."""

__version__ = "0.1.0"

__all__ = ["__version__"]
