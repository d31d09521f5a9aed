"""Strict YAML: a key given twice is an error naming both lines, in every file we ship."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from pydantic import BaseModel

from mash_common.configfile import DuplicateKeyError, load_yaml_model, strict_load
from mash_common.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


class _Any(BaseModel):
    model_config = {"extra": "allow"}


@pytest.mark.parametrize(("text", "first", "second"), [
    ("a: 1\na: 2\n", 1, 2),
    ("top:\n  x: 1\n  y: 2\n  x: 3\n", 2, 4),
    ("list:\n  - {k: 1, k: 2}\n", 2, 2),
    # health's entry with a second consent line: the case the issue was filed about
    ("health:\n  consent:\n    required: true\n  purpose: p\n  consent: {required: false}\n", 2, 5),
])
def test_a_duplicate_key_names_both_lines(text: str, first: int, second: int) -> None:
    with pytest.raises(DuplicateKeyError) as caught:
        strict_load(text)
    assert f"on line {second} repeats the key on line {first}" in str(caught.value.problem)


@pytest.mark.parametrize("text", [
    "a: 1\nb: 2\n",
    "a: {x: 1}\nb: {x: 1}\n",  # the same key in two different mappings
    "base: &b {x: 1, y: 2}\nderived:\n  <<: *b\n  x: 3\n",  # a merge key overrides on purpose
    "kinds:\n  A: &p {x: []}\n  B: *p\n",
])
def test_no_duplicate_is_not_an_error(text: str) -> None:
    strict_load(text)


def test_load_yaml_model_reports_file_and_both_lines(tmp_path: Path) -> None:
    path = tmp_path / "agreement.yaml"
    path.write_text("version: x\nagencies: {}\nversion: y\n")
    with pytest.raises(ConfigError) as caught:
        load_yaml_model(path, _Any)
    message = str(caught.value)
    assert str(path) in message and "line 3" in message and "line 1" in message


def _shipped_yaml() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "*.yaml", "*.yml"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout.split()
    return [ROOT / name for name in listed]


def test_there_are_shipped_files() -> None:
    names = {p.name for p in _shipped_yaml()}
    assert {"hub.yaml", "sharing-agreement.yaml", "recipient-policy.yaml",
            "threshold-policy.yaml"} <= names


@pytest.mark.parametrize("path", _shipped_yaml(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_shipped_yaml_file_has_no_duplicate_key(path: Path) -> None:
    for document in path.read_text(encoding="utf-8").split("\n---\n"):
        strict_load(document)
