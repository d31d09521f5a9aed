"""Every record's fingerprint, as Apache Avro's Java library computes it, equals ours.

Builds clients/java with Maven (which also runs its JUnit tests over the golden vectors),
then asks Java for SchemaNormalization.parsingFingerprint64 of every generated record.
"""

from __future__ import annotations

from mash_common.schemas import default_schema_dir, default_store
from tests.support.java import java_client


def test_java_fingerprints_equal_ours_for_every_record() -> None:
    out = java_client().run("fingerprints", "--schemas", str(default_schema_dir()))
    java = dict(line.split() for line in out.splitlines() if line.strip())
    store = default_store()
    assert sorted(java) == store.names()
    ours = {name: store.current(name).fingerprint.hex() for name in store.names()}
    assert java == ours
