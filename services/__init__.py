"""The hub's stream-processing and web services, one folder each (imported as mash_hub.services)."""

if __name__ != "mash_hub.services":
    # One name per module (see mash_hub/__init__.py): `services` would load every module a second
    # time beside `mash_hub.services`, and its metrics would register twice.
    raise ImportError("import mash_hub.services, not services")
