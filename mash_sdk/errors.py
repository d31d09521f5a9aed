"""The SDK's error tree. Messages never carry personal data: codes and positions only."""

from __future__ import annotations

from mash_common.errors import MashError


class SdkError(MashError):
    """Root of every error the adapter SDK raises on purpose."""


class TransientError(SdkError):
    """Raise from a handler when the agency system is briefly unavailable (timeout, 5xx,
    lost connection). The SDK retries with exponential backoff and, if the failure persists,
    answers ERROR with a reason."""


class DropRequest(SdkError):
    """Raise from a handler to send no answer at all. Only the simulated agencies use it, to
    exercise the hub's deadlines; a real adapter must always answer."""


class AdapterError(SdkError):
    """The adapter cannot go on (Kafka unreachable, responses undeliverable); it stops
    without committing, so nothing is lost: the request is served again on restart."""


class AdapterConfigError(SdkError):
    """A reference adapter's configuration is invalid; the message names the setting."""
