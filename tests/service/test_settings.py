"""Settings: one table, documented in the README, flags over environment over file."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubetrail.settings import SETTINGS, SettingsError, load, markdown_table

README = Path(__file__).parents[2] / "README.md"


def test_every_setting_is_documented_in_the_readme() -> None:
    assert markdown_table() in README.read_text()


def test_flags_win_over_environment_over_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_file = tmp_path / "kubetrail.toml"
    config_file.write_text('port = 9000\nretention_days = 7\nhost = "0.0.0.0"\n')
    monkeypatch.setenv("KUBETRAIL_RETENTION_DAYS", "14")
    monkeypatch.setenv("KUBETRAIL_HOST", "127.0.0.2")
    config = load({"host": "127.0.0.3"}, str(config_file))
    assert (config.port, config.retention_days, config.host) == (9000, 14, "127.0.0.3")
    assert config.sources == {"port": "file", "retention_days": "env", "host": "flag"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("prot = 9000\n", "unknown setting 'prot'"),
        ('port = "many"\n', "port (config file"),
        ("retention_days = 0\n", "retention_days: must be positive"),
        ('log_format = "xml"\n', "log_format: must be text or json"),
        ("port = \n", "config file"),
    ],
)
def test_a_bad_config_file_names_the_key(tmp_path: Path, text: str, message: str) -> None:
    config_file = tmp_path / "kubetrail.toml"
    config_file.write_text(text)
    with pytest.raises(SettingsError, match=message.replace("(", r"\(")):
        load({}, str(config_file))


def test_every_setting_has_a_default_and_help() -> None:
    config = load({})
    for setting in SETTINGS:
        assert getattr(config, setting.name) == setting.default
        assert setting.help.endswith(".")
