"""Fills the mash-sdk wheel from the repository's top-level folders (two levels up).

mash_sdk/ whole; mash_common/ except HUB_ONLY, the faust runtime that mash-hub's wheel
carries (the root pyproject.toml ships exactly these: its hook's `ship` table); schemas/avro/ as
mash_common/_schemas and config/*.yaml as mash_common/_config, the defaults an installed
package falls back on. tests/unit/test_packaging.py keeps HUB_ONLY and pyproject.toml in step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

HUB_ONLY = frozenset({"mash_common/worker.py", "mash_common/streams.py",
                      "mash_common/processing.py"})


def sdk_files(repo: Path) -> dict[str, str]:
    """Source path -> path in the wheel."""
    files: dict[str, str] = {}
    for package in ("mash_sdk", "mash_common"):
        for path in sorted((repo / package).rglob("*")):
            rel = path.relative_to(repo).as_posix()
            if path.is_dir() or "__pycache__" in path.parts or path.suffix == ".pyc":
                continue
            if rel in HUB_ONLY:
                continue
            files[str(path)] = rel
    for path in sorted((repo / "schemas" / "avro").rglob("*")):
        if path.is_file():
            files[str(path)] = "mash_common/_schemas/" + path.relative_to(
                repo / "schemas" / "avro").as_posix()
    for path in sorted((repo / "config").glob("*.yaml")):
        files[str(path)] = f"mash_common/_config/{path.name}"
    return files


class SdkFiles(BuildHookInterface):  # type: ignore[misc]  # hatchling ships no type hints
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version == "editable":
            return  # dev-mode-dirs puts the checkout itself on sys.path
        repo = Path(self.root).resolve().parents[1]
        build_data["force_include"].update(sdk_files(repo))
