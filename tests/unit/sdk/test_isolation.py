"""The SDK installs alone: importing every mash_sdk module pulls in neither services nor faust."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

PROBE = """
import importlib, json, pkgutil, sys
import mash_sdk
names = [m.name for m in pkgutil.walk_packages(mash_sdk.__path__, "mash_sdk.")]
for name in names:
    importlib.import_module(name)
print(json.dumps({"modules": names,
                  "leaked": sorted(m for m in sys.modules
                                   if m.split(".")[0] in ("mash_hub", "services", "bench", "mash_ops",
                                                         "faust", "mode"))}))
"""


def test_sdk_imports_neither_services_nor_faust() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True,
                         timeout=60, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(result["modules"]) >= 15, result["modules"]
    assert "mash_sdk.reference.sql" in result["modules"]
    assert result["leaked"] == []
