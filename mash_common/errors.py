"""The error tree of mash_common: every error the shared package raises derives from MashError.

Messages never carry personal data: they name records, fields and codes, not values.
"""

from __future__ import annotations


class MashError(Exception):
    """Root of every error mash-hub raises on purpose."""


class ConfigError(MashError):
    """A configuration file or setting is invalid; the message names the file and the place."""


class SchemaError(MashError):
    """The Avro schemas in schemas/avro/ cannot be loaded or do not agree with each other."""


class SerdeError(MashError):
    """A message could not be encoded or decoded. Subclasses say which part was wrong."""

    reason_code = "UNDECODABLE"


class BadMarkerError(SerdeError):
    """The bytes do not start with the Avro single-object marker C3 01."""

    reason_code = "BAD_MARKER"


class UnknownFingerprintError(SerdeError):
    """The writer schema's fingerprint is not one this reader knows."""

    reason_code = "UNKNOWN_SCHEMA"


class CorruptBodyError(SerdeError):
    """The header was fine but the Avro body is truncated or garbled."""

    reason_code = "CORRUPT_BODY"


class WrongRecordError(SerdeError):
    """The bytes hold a known record, but not the one the reader expected."""

    reason_code = "WRONG_RECORD"


class ContractError(SerdeError):
    """The body decoded but breaks the contract (a field's value is not allowed)."""

    reason_code = "CONTRACT_VIOLATION"
