"""murmur2 as Kafka's Java client computes it (values from its own unit tests and the
librdkafka murmur2 test table)."""

from __future__ import annotations

import pytest

from mash_common.partitioning import murmur2, partition_for


@pytest.mark.parametrize(("data", "expected"), [
    (b"21", -973932308),
    (b"foobar", -790332482),
    (b"a-little-bit-long-string", -985981536),
    (b"a-little-bit-longer-string", -1486304829),
    (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
    (b"abc", 479470107),
])
def test_murmur2_matches_the_java_client(data: bytes, expected: int) -> None:
    assert murmur2(data) == expected


def test_partition_is_the_positive_hash_modulo_the_count() -> None:
    assert partition_for(b"foobar", 6) == (-790332482 & 0x7FFFFFFF) % 6
