"""The audit store: mash.audit into an append-only, hash-chained database."""
