"""One way to point a command at the hub's own configuration: MASH_CONFIG_DIR, or the
--config-dir option every command takes (which sets it for the process)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mash_common.cli import take_config_dir
from mash_common.hubconfig import (
    CONFIG_DIR_ENV,
    default_config_dir,
    load_hub_config,
    packaged_config_dir,
)


def unset(monkeypatch: pytest.MonkeyPatch) -> None:
    """No MASH_CONFIG_DIR, and whatever the test sets (take_config_dir writes os.environ)
    is undone afterwards: setenv first records the variable's state to restore."""
    monkeypatch.setenv(CONFIG_DIR_ENV, "unset-by-the-test")
    monkeypatch.delenv(CONFIG_DIR_ENV)


def test_default_is_the_packaged_config(monkeypatch: pytest.MonkeyPatch) -> None:
    unset(monkeypatch)
    assert default_config_dir() == packaged_config_dir()
    assert (default_config_dir() / "hub.yaml").is_file()


def test_the_environment_names_the_hubs_own_directory(monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    shutil.copy(packaged_config_dir() / "hub.yaml", tmp_path / "hub.yaml")
    text = (tmp_path / "hub.yaml").read_text()
    (tmp_path / "hub.yaml").write_text(text.replace("Example Borough MASH", "Own Hub MASH"))
    monkeypatch.setenv(CONFIG_DIR_ENV, str(tmp_path))
    assert default_config_dir() == tmp_path
    assert load_hub_config().hub_name == "Own Hub MASH"


@pytest.mark.parametrize("argv", [
    ["mash-intake", "--config-dir", "DIR", "worker", "-l", "info"],
    ["mash-intake", "--config-dir=DIR", "worker", "-l", "info"],
])
def test_config_dir_option_is_taken_out_of_a_foreign_command_line(
        argv: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    unset(monkeypatch)
    rest = take_config_dir([a.replace("DIR", str(tmp_path)) for a in argv])
    assert rest == ["mash-intake", "worker", "-l", "info"]
    assert default_config_dir() == tmp_path


def test_without_the_option_argv_is_untouched(monkeypatch: pytest.MonkeyPatch) -> None:
    unset(monkeypatch)
    assert take_config_dir(["mash-routing", "worker"]) == ["mash-routing", "worker"]
    assert default_config_dir() == packaged_config_dir()
