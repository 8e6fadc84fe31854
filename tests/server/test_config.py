"""Configuration: defaults, TOML file, environment overrides, documentation."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.config import SETTINGS, Config, ConfigError

DOCS = Path(__file__).parents[2] / "docs" / "configuration.md"


def test_default_is_sqlite_in_data_dir(tmp_path: Path) -> None:
    cfg = Config.load(environ={"SATCHEL_DATA_DIR": str(tmp_path)})
    assert cfg.database_url == f"sqlite:///{tmp_path}/satchel.db"
    assert cfg.port == 8470


def test_file_then_environment(tmp_path: Path) -> None:
    path = tmp_path / "satchel.toml"
    path.write_text('port = 9000\nhost = "0.0.0.0"\ndatabase_url = "sqlite:///from-file.db"\n')
    cfg = Config.load(path, environ={"SATCHEL_PORT": "9100"})
    assert (cfg.port, cfg.host, cfg.database_url) == (9100, "0.0.0.0", "sqlite:///from-file.db")
    env = {"SATCHEL_CONFIG": str(path), "SATCHEL_DATABASE_URL": "postgresql+psycopg://u@h/db"}
    assert Config.load(environ=env).database_url == "postgresql+psycopg://u@h/db"
    assert Config.load(path, environ={}, port=9200).port == 9200


def test_bad_values_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="port must be int"):
        Config.load(environ={"SATCHEL_PORT": "eighty"})
    path = tmp_path / "bad.toml"
    path.write_text("prot = 1\n")
    with pytest.raises(ConfigError, match="unknown settings prot"):
        Config.load(path, environ={})
    with pytest.raises(ConfigError, match="cannot read"):
        Config.load(tmp_path / "missing.toml", environ={})
    for name, value in (("SYNC_QUEUE_LIMIT", "0"), ("SYNC_QUEUE_LIMIT", "-1"), ("WORKERS", "0")):
        with pytest.raises(ConfigError, match="must be at least 1"):
            Config.load(environ={f"SATCHEL_{name}": value})


def test_every_setting_is_documented() -> None:
    text = DOCS.read_text()
    for setting in SETTINGS:
        assert f"`{setting.name}`" in text, f"{setting.name} missing from docs/configuration.md"
        assert f"SATCHEL_{setting.name.upper()}" in text
