"""DLMS/COSEM security (IEC 62056-5-3 clause 9.2 / Green Book): suites, security control,
AES-GCM ciphering of APDUs, authentication mechanisms, key wrap and invocation counters.

Symmetric modules: :mod:`~cosemnet.security.errors`, :mod:`~cosemnet.security.suite`,
:mod:`~cosemnet.security.control`, :mod:`~cosemnet.security.keys`, :mod:`~cosemnet.security.ciphering`,
:mod:`~cosemnet.security.hls`, :mod:`~cosemnet.security.keywrap`, :mod:`~cosemnet.security.counters`.
Asymmetric ones (suites 1 and 2): ``ecc``, ``kdf``, ``certificates``, ``signing``, ``agreement``.

This package only re-exports the exception family and the suite definitions, so that importing any
submodule stays cheap and free of import cycles.
"""

from cosemnet.security.errors import (
    AuthenticationError,
    CounterStoreError,
    DowngradeError,
    InvalidKeyError,
    InvocationCounterExhaustedError,
    KeyMissingError,
    ReplayError,
    SecurityError,
    UnsupportedSecurityError,
)
from cosemnet.security.suite import SUITE_PARAMETERS, SecuritySuite, SuiteParameters, security_suite

__all__ = [
    "SUITE_PARAMETERS",
    "AuthenticationError",
    "CounterStoreError",
    "DowngradeError",
    "InvalidKeyError",
    "InvocationCounterExhaustedError",
    "KeyMissingError",
    "ReplayError",
    "SecurityError",
    "SecuritySuite",
    "SuiteParameters",
    "UnsupportedSecurityError",
    "security_suite",
]
