"""Benchmarks of the whole pipeline on the local broker: `mash-bench` (see README.md)."""

if __name__ != "mash_hub.bench":
    # One name per module (see mash_hub/__init__.py): `bench` would load every module a second
    # time beside `mash_hub.bench`, and its metrics would register twice.
    raise ImportError("import mash_hub.bench, not bench")
