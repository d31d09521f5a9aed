"""The main job: the whole pipeline on a local broker, with simulated agencies, shown live."""

if __name__ != "mash_hub.demo":
    # One name per module (see mash_hub/__init__.py): `mash_demo` would load every module a second
    # time beside `mash_hub.demo`, and its metrics would register twice.
    raise ImportError("import mash_hub.demo, not mash_demo")
