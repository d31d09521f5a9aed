"""Fills the mash-hub wheel with the application packages under their installed names.

The mapping (source in the checkout -> path in the wheel) is the hook's `ship` table in
pyproject.toml. It is applied to real wheels only: hatchling copies force-included files
into site-packages even for an editable install, and those copies, frozen at install time,
would shadow the checkout for every console script (whose sys.path starts at the
virtualenv's bin/, not the working directory). An editable install gets nothing but
`dev-mode-dirs`, the checkout itself on sys.path, where mash_hub/'s symlinks name the same
packages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class HubFiles(BuildHookInterface):  # type: ignore[misc]  # hatchling ships no type hints
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version == "editable":
            return
        ship = self.config.get("ship")
        if not isinstance(ship, dict) or not ship:
            raise ValueError("pyproject.toml: [tool.hatch.build.targets.wheel.hooks.custom] "
                             "needs a `ship` table (source -> path in the wheel)")
        root = Path(self.root)
        build_data["force_include"].update({str(root / src): dst for src, dst in ship.items()})
