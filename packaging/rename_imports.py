#!/usr/bin/env python3
"""Moves every import and command of the application packages to their installed names.

    services.<x>  ->  mash_hub.services.<x>        (from/import lines, -m arguments, text)
    bench.<x>     ->  mash_hub.bench.<x>
    mash_demo     ->  mash_hub.demo
    `python -m <module>` in docs and help  ->  the module's console script (mash-intake, ...)

and makes the old top-level names refuse to import (so no module loads under two names),
and points mypy at mash_hub/. Mechanical and idempotent: run it after merging branches that
still use the old names, and commit what it changed. `--check` changes nothing and exits 1
if something still uses an old name (make lint runs it).

    python3 packaging/rename_imports.py [--check]

Needs Python 3.11 (tomllib), git and, to put renamed imports back in order, ruff (.venv's or
on PATH); reads the console scripts from pyproject.toml and packaging/mash-sdk/pyproject.toml.
File-system paths (services/intake/app.py) are left alone.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SELF = Path(__file__).resolve()

TEXT_SUFFIXES = {".py", ".md", ".yml", ".yaml", ".sh", ".cfg", ".ini", ".txt"}
TEXT_NAMES = {"Makefile", "Dockerfile", "run"}
# Generated reports keep the commands they were made with; other languages have no Python.
# config/ is included: a file there may name a command (a Deployment's, say).
SKIP_PREFIXES = ("bench/results/", "clients/", "docs/screenshots/", "schemas/",
                 "packaging/requirements")

GUARD_MARK = "One name per module"
GUARD = '''
if __name__ != "{full}":
    # {mark} (see mash_hub/__init__.py): `{short}` would load every module a second
    # time beside `{full}`, and its metrics would register twice.
    raise ImportError("import {full}, not {short}")
'''
PACKAGES = (("services", "mash_hub.services"), ("bench", "mash_hub.bench"),
            ("mash_demo", "mash_hub.demo"))

MYPY_FILES = 'files = ["mash_common", "mash_hub", "mash_sdk", "mash_ops", "tests"]'


def submodules(folder: str) -> list[str]:
    """The names directly inside a top-level package folder (modules and subpackages)."""
    names = set()
    for path in (ROOT / folder).iterdir():
        if path.name.startswith(("_", ".")):
            continue
        if path.suffix == ".py":
            names.add(path.stem)
        elif path.is_dir() and (path / "__init__.py").is_file():
            names.add(path.name)
    return sorted(names, key=lambda n: (-len(n), n))


def console_scripts() -> dict[str, str]:
    """Module (as `python -m` takes it) -> console script name, from both distributions."""
    found: dict[str, str] = {}
    for project in (ROOT / "pyproject.toml", ROOT / "packaging" / "mash-sdk" / "pyproject.toml"):
        if not project.is_file():
            continue
        scripts = tomllib.loads(project.read_text(encoding="utf-8")).get("project", {}).get(
            "scripts", {})
        for name, target in scripts.items():
            module = target.split(":", 1)[0]
            found[module] = name
            if module.endswith(".__main__"):
                found[module.removesuffix(".__main__")] = name
    return found


def rules() -> list[tuple[re.Pattern[str], str]]:
    # Not after a word character, a dot (already qualified), a slash or a hyphen (a path or
    # a command name), so the rules never apply twice.
    before = r"(?<![\w./-])"
    out: list[tuple[re.Pattern[str], str]] = []
    for folder, full in (("services", "mash_hub.services"), ("bench", "mash_hub.bench")):
        names = "|".join(map(re.escape, submodules(folder)))
        out += [
            (re.compile(rf"{before}{folder}\.({names})\b"), rf"{full}.\1"),
            (re.compile(rf"{before}{folder}\.\{{"), f"{full}.{{"),  # f"services.{name}"
            (re.compile(rf"{before}{folder}\.<"), f"{full}.<"),  # services.<name> in prose
            (re.compile(rf"^(\s*)(from|import) {folder}(?=\s|$)", re.M), rf"\1\2 {full}"),
            (re.compile(rf"""(-m\s+|"-m",\s*"){folder}\b(?![./-])"""), rf"\1{full}"),
        ]
    # Not a bare quoted name either ("mash_demo" as a string is a top-level name, on purpose).
    out.append((re.compile(rf"{before}mash_demo\b(?![/\w\"'])"), "mash_hub.demo"))
    return out


def command_rule(scripts: dict[str, str]) -> tuple[re.Pattern[str], object]:
    """`python -m mod` / `.venv/bin/python -m mod` -> `mash-x` / `.venv/bin/mash-x`."""
    pattern = re.compile(r"(?<![\w$(-])((?:[\w.~-]*/)*)python3? -m ([\w.]+)")

    def replace(match: re.Match[str]) -> str:
        script = scripts.get(match.group(2))
        return match.group(0) if script is None else f"{match.group(1)}{script}"

    return pattern, replace


def tracked_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
    files = []
    for name in out.stdout.decode().split("\0"):
        if not name or name.startswith(SKIP_PREFIXES):
            continue
        path = ROOT / name
        if path.resolve() == SELF or path.is_symlink() or not path.is_file():
            continue
        if path.suffix in TEXT_SUFFIXES or path.name in TEXT_NAMES:
            files.append(path)
    return files


GUARD_START = "\nif __name__ != "


def rewrite(text: str, subs: list[tuple[re.Pattern[str], str]],
            command: tuple[re.Pattern[str], object]) -> str:
    if GUARD_MARK in text:  # a guard names the old name on purpose: rewrite only above it
        head, sep, guard = text.partition(GUARD_START)
        return rewrite(head, subs, command) + sep + guard
    for pattern, replacement in subs:
        text = pattern.sub(replacement, text)
    pattern, replace = command
    text = pattern.sub(replace, text)  # type: ignore[arg-type]
    return text


def guard_changes(pending: dict[Path, str]) -> dict[Path, str]:
    changes = {}
    for short, full in PACKAGES:
        init = ROOT / short / "__init__.py"
        text = pending.get(init) or init.read_text(encoding="utf-8")
        if GUARD_MARK not in text:
            changes[init] = text + GUARD.format(full=full, short=short, mark=GUARD_MARK)
    return changes


def mypy_change() -> dict[Path, str]:
    project = ROOT / "pyproject.toml"
    text = project.read_text(encoding="utf-8")
    new = re.sub(r"^files = \[[^\]]*\].*$", MYPY_FILES, text, count=1, flags=re.M)
    return {project: new} if new != text else {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="packaging/rename_imports.py",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 if any file still uses an old name")
    args = parser.parse_args(argv)
    scripts = console_scripts()
    subs, command = rules(), command_rule(scripts)
    changes: dict[Path, str] = {}
    for path in tracked_files():
        text = path.read_text(encoding="utf-8")
        new = rewrite(text, subs, command)
        if new != text:
            changes[path] = new
    changes.update(guard_changes(changes))
    for path, new in mypy_change().items():
        changes[path] = new
    for path in sorted(changes):
        print(f"{'would change' if args.check else 'changed'}  {path.relative_to(ROOT)}")
    if args.check:
        if changes:
            print(f"{len(changes)} files still use the old names: run "
                  "python3 packaging/rename_imports.py", file=sys.stderr)
        return 1 if changes else 0
    for path, new in changes.items():
        path.write_text(new, encoding="utf-8")
    print(f"{len(changes)} files changed" if changes else "nothing to change")
    sort_imports(sorted(str(p) for p in changes if p.suffix == ".py"))
    return 0


def sort_imports(files: list[str]) -> None:
    """A renamed import can move within its block (mash_hub sorts between mash_common and
    mash_ops): let ruff, the project's import sorter, put it back in order."""
    if not files:
        return
    ruff = ROOT / ".venv" / "bin" / "ruff"
    command = str(ruff) if ruff.is_file() else shutil.which("ruff")
    if command is None:
        print("ruff not found: run `ruff check --fix --select I .` before committing",
              file=sys.stderr)
        return
    subprocess.run([command, "check", "--fix", "--quiet", "--select", "I", *files], cwd=ROOT,
                   check=False)


if __name__ == "__main__":
    sys.exit(main())
