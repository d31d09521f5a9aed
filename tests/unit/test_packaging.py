"""The two distributions split the repository without overlap: mash-sdk carries mash_sdk and
mash_common except the faust runtime, mash-hub carries exactly that runtime and the rest;
every command has a console script."""

from __future__ import annotations

import ast
import importlib.util
import tomllib
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def project(path: Path) -> dict[str, object]:
    return tomllib.loads(path.read_text(encoding="utf-8"))


HUB = project(ROOT / "pyproject.toml")
SDK = project(ROOT / "packaging" / "mash-sdk" / "pyproject.toml")
HOOK = load(ROOT / "packaging" / "mash-sdk" / "hatch_build.py", "mash_sdk_hatch_build")


def imports_faust(path: Path) -> bool:
    """A module-level `import faust` / `from faust ...` (a function-level one is lazy)."""
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                 else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
        if any(n.split(".")[0] in ("faust", "mode") for n in names):
            return True
    return False


def test_the_hub_wheel_carries_exactly_the_runtime_the_sdk_leaves_out() -> None:
    force = HUB["tool"]["hatch"]["build"]["targets"]["wheel"]["hooks"]["custom"]["ship"]  # type: ignore[index]
    hub_common = {src for src in force if src.startswith("mash_common/")}
    assert hub_common == set(HOOK.HUB_ONLY)
    assert all(force[src] == src for src in hub_common)


def test_no_sdk_file_imports_faust_and_no_file_is_in_both() -> None:
    files = HOOK.sdk_files(ROOT)
    shipped = set(files.values())
    assert not shipped & set(HOOK.HUB_ONLY)
    assert "mash_common/_schemas/Referral.avsc" in shipped
    assert "mash_common/_config/hub.yaml" in shipped
    faust_users = {rel for src, rel in files.items() if src.endswith(".py")
                   and imports_faust(Path(src))}
    assert faust_users == set()
    # ...and what mash-hub takes really is faust's (else it belongs in the SDK).
    assert all(imports_faust(ROOT / rel) for rel in HOOK.HUB_ONLY)


def test_the_sdk_depends_on_no_service_library() -> None:
    deps = " ".join(SDK["project"]["dependencies"]).lower()  # type: ignore[index]
    for name in ("faust", "aiokafka", "fastapi", "uvicorn", "sqlalchemy", "httpx", "rich"):
        assert name not in deps
    extras = SDK["project"]["optional-dependencies"]  # type: ignore[index]
    assert {"http", "sql", "postgres", "csv"} <= set(extras)


def test_every_main_has_a_console_script() -> None:
    scripts = {**HUB["project"]["scripts"], **SDK["project"]["scripts"]}  # type: ignore[index]
    targets = {t.split(":")[0] for t in scripts.values()}
    mains = set()
    for top, installed in (("services", "mash_hub.services"), ("mash_ops", "mash_ops"),
                           ("mash_sdk", "mash_sdk"), ("mash_common", "mash_common"),
                           ("mash_demo", "mash_hub.demo"), ("bench", "mash_hub.bench")):
        for path in (ROOT / top).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            if not any(isinstance(n, ast.FunctionDef) and n.name == "main" for n in tree.body):
                continue
            parts = path.relative_to(ROOT / top).with_suffix("").parts
            mains.add(".".join((installed, *parts)))
    # Repository maintenance, not an installed command: it rewrites docs/governance.md.
    mains.discard("mash_hub.services.governance")
    assert mains - targets == set()
    assert targets - mains == set()


def test_each_module_has_one_name() -> None:
    """The top-level folders are importable only as mash_hub.*: a second name would load a
    module twice (and register its metrics twice)."""
    import subprocess
    import sys

    probe = """
import importlib, json
refused = {}
for name in ("services", "bench", "mash_demo"):
    try:
        importlib.import_module(name)
        refused[name] = False
    except ImportError:
        refused[name] = True
import mash_hub.services.intake.logic, mash_hub.bench.machine, mash_hub.demo.processes
print(json.dumps(refused))
"""
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.strip().splitlines()[-1] == (
        '{"services": true, "bench": true, "mash_demo": true}')
