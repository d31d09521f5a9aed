"""The hub's stream-processing and web services, one folder each (imported as mash_hub.services)."""
