"""mash-hub's application packages under one name: mash_hub.services, mash_hub.bench and
mash_hub.demo.

In the source tree they stay at the top (services/, bench/, mash_demo/) and the entries
here are symbolic links to them; the wheel carries them as real folders under mash_hub/.
Either way there is one import name for each module: the top-level names refuse to be
imported (see each package's __init__), so no module is loaded twice under two names (its
metrics would register twice).
"""
