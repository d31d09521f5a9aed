"""Tests run real service processes with the same runner as the demo."""

from mash_hub.demo.processes import FAUST_READY, ROOT, ServiceProcess

__all__ = ["FAUST_READY", "ROOT", "ServiceProcess"]
