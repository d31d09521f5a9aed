"""Kafka Connect's error headers for a dead letter, beside its Avro DeadLetter value.

A dead letter keeps the original record's headers and timestamp and adds the headers
Kafka Connect's dead letter queue writes (errors.deadletterqueue.context.headers.enable),
so Connect-aware tooling can read our dead-letter topic as well as our own. Values are
UTF-8 strings as Connect writes them; the message is the reason an operator acts on and
never holds personal data.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

PREFIX = "__connect.errors."
TOPIC = PREFIX + "topic"
PARTITION = PREFIX + "partition"
OFFSET = PREFIX + "offset"
EXCEPTION_CLASS = PREFIX + "exception.class.name"
EXCEPTION_MESSAGE = PREFIX + "exception.message"
STAGE = PREFIX + "stage"

Headers = list[tuple[str, bytes]]


def failure_name(exception: type[BaseException] | None, reason_code: str) -> str:
    """The exception's qualified class name; for a rule breach with no exception, the
    reason code under mash's own namespace (e.g. mash.INVALID)."""
    if exception is None:
        return f"mash.{reason_code}"
    return f"{exception.__module__}.{exception.__qualname__}"


def error_headers(
    original: Iterable[tuple[str, bytes | None]] | None,
    *,
    topic: str,
    partition: int,
    offset: int,
    stage: str,
    exception_class: str,
    message: str,
) -> Headers:
    """The original headers (any earlier Connect error headers replaced), then Connect's."""
    kept: Headers = [
        (name, value if value is not None else b"")
        for name, value in (original or [])
        if not name.startswith(PREFIX)
    ]
    ours: Sequence[tuple[str, str]] = (
        (TOPIC, topic),
        (PARTITION, str(partition)),
        (OFFSET, str(offset)),
        (EXCEPTION_CLASS, exception_class),
        (EXCEPTION_MESSAGE, message),
        (STAGE, stage),
    )
    return kept + [(name, value.encode("utf-8")) for name, value in ours]


def as_text(headers: Iterable[tuple[str, bytes | None]] | None) -> dict[str, str]:
    """Connect's error headers of a record, decoded; for operators' tools and tests."""
    return {
        name: (value or b"").decode("utf-8", errors="replace")
        for name, value in (headers or [])
        if name.startswith(PREFIX)
    }
