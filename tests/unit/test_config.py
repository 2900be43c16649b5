"""Settings.from_env: defaults, the kept JWT secret, production strictness, bad values."""
from __future__ import annotations

import os
import stat

import pytest

from core.config import DEFAULT_DATABASE_URL, MIN_SECRET_BYTES, SECRET_FILE, ConfigError, Settings

GOOD_SECRET = "s" * MIN_SECRET_BYTES


def test_defaults_on_an_empty_environment(tmp_path):
    settings = Settings.from_env({}, workdir=tmp_path)
    assert settings.database_url == DEFAULT_DATABASE_URL == "sqlite+aiosqlite:///factory.db"
    assert settings.is_sqlite
    assert settings.log_dir == "logs"
    assert settings.cache_ttl == 30
    assert settings.env == "development" and not settings.production
    assert settings.redis_url is None
    assert settings.admin_password is None
    assert settings.rate_limits == "login=10/60,read=600/60,write=120/60,analytics=60/60"


def test_every_variable_is_read(tmp_path):
    settings = Settings.from_env({
        "FACTORY_DATABASE_URL": "mysql+aiomysql://root@127.0.0.1:3306/factory",
        "FACTORY_JWT_SECRET": GOOD_SECRET,
        "FACTORY_ADMIN_PASSWORD": "first-admin-pass",
        "FACTORY_REDIS_URL": "redis://127.0.0.1:6379/0",
        "FACTORY_LOG_DIR": str(tmp_path / "var-log"),
        "FACTORY_RATE_LIMITS": "login=5/60,read=100/60",
        "FACTORY_CACHE_TTL": "2.5",
        "FACTORY_ENV": "production",
    }, workdir=tmp_path)
    assert settings.database_url == "mysql+aiomysql://root@127.0.0.1:3306/factory"
    assert not settings.is_sqlite
    assert settings.jwt_secret == GOOD_SECRET
    assert settings.admin_password == "first-admin-pass"
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.log_dir == str(tmp_path / "var-log")
    assert settings.rate_limits == "login=5/60,read=100/60"
    assert settings.cache_ttl == 2.5
    assert settings.production
    assert not (tmp_path / SECRET_FILE).exists()


def test_secret_is_generated_once_into_a_0600_file_and_reused(tmp_path):
    first = Settings.from_env({}, workdir=tmp_path)
    path = tmp_path / SECRET_FILE
    assert path.exists()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first.jwt_secret.encode()) >= MIN_SECRET_BYTES
    assert path.read_text().strip() == first.jwt_secret
    second = Settings.from_env({}, workdir=tmp_path)
    assert second.jwt_secret == first.jwt_secret


def test_a_too_short_kept_secret_is_replaced(tmp_path):
    path = tmp_path / SECRET_FILE
    path.write_text("short\n")
    os.chmod(path, 0o600)
    settings = Settings.from_env({}, workdir=tmp_path)
    assert len(settings.jwt_secret.encode()) >= MIN_SECRET_BYTES
    assert path.read_text().strip() == settings.jwt_secret


def test_an_explicit_secret_wins_over_the_file(tmp_path):
    Settings.from_env({}, workdir=tmp_path)
    settings = Settings.from_env({"FACTORY_JWT_SECRET": GOOD_SECRET}, workdir=tmp_path)
    assert settings.jwt_secret == GOOD_SECRET


@pytest.mark.parametrize("secret", [None, "", "too-short", "x" * (MIN_SECRET_BYTES - 1)])
def test_production_refuses_a_missing_or_short_secret(tmp_path, secret):
    env = {"FACTORY_ENV": "production"}
    if secret is not None:
        env["FACTORY_JWT_SECRET"] = secret
    with pytest.raises(ConfigError) as refused:
        Settings.from_env(env, workdir=tmp_path)
    assert "FACTORY_JWT_SECRET" in str(refused.value)
    assert "\n" not in str(refused.value)
    assert not (tmp_path / SECRET_FILE).exists(), "production never falls back to a generated key"


def test_production_accepts_a_long_secret(tmp_path):
    settings = Settings.from_env({"FACTORY_ENV": "production", "FACTORY_JWT_SECRET": GOOD_SECRET},
                                 workdir=tmp_path)
    assert settings.production and settings.jwt_secret == GOOD_SECRET


def test_development_refuses_a_short_explicit_secret(tmp_path):
    with pytest.raises(ConfigError):
        Settings.from_env({"FACTORY_JWT_SECRET": "short"}, workdir=tmp_path)


@pytest.mark.parametrize("ttl", ["abc", "-1", "nan", "inf", "30s", "1e999"])
def test_bad_cache_ttl_is_a_config_error(tmp_path, ttl):
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({"FACTORY_CACHE_TTL": ttl}, workdir=tmp_path)
    assert "FACTORY_CACHE_TTL" in str(refused.value)


@pytest.mark.parametrize("ttl, expected", [("0", 0.0), ("45", 45.0), ("", 30.0)])
def test_cache_ttl_values(tmp_path, ttl, expected):
    assert Settings.from_env({"FACTORY_CACHE_TTL": ttl}, workdir=tmp_path).cache_ttl == expected


@pytest.mark.parametrize("limits", ["login=ten/60", "login", "login=10/0", "bogus=1/60", "login=-1/60"])
def test_bad_rate_limits_are_a_config_error(tmp_path, limits):
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({"FACTORY_RATE_LIMITS": limits}, workdir=tmp_path)
    assert "FACTORY_RATE_LIMITS" in str(refused.value)


@pytest.mark.parametrize("mode", ["prod", "staging", "PRODUCTION"])
def test_unknown_env_is_a_config_error(tmp_path, mode):
    with pytest.raises(ConfigError):
        Settings.from_env({"FACTORY_ENV": mode, "FACTORY_JWT_SECRET": GOOD_SECRET}, workdir=tmp_path)


def test_settings_are_frozen_and_copied_with_changes(tmp_path):
    settings = Settings.from_env({}, workdir=tmp_path)
    changed = settings.with_(cache_ttl=1.0)
    assert changed.cache_ttl == 1.0 and settings.cache_ttl == 30
    with pytest.raises(AttributeError):
        settings.cache_ttl = 5  # type: ignore[misc]


def test_the_plant_time_zone_defaults_to_utc_and_reads_an_iana_name(tmp_path):
    assert Settings.from_env({}, workdir=tmp_path).timezone == "UTC"
    berlin = Settings.from_env({"FACTORY_TIMEZONE": "Europe/Berlin"}, workdir=tmp_path)
    assert berlin.timezone == "Europe/Berlin"


@pytest.mark.parametrize("zone", ["Mars/Olympus", "Europe/../etc", "not a zone"])
def test_an_unknown_time_zone_is_a_one_line_config_error(tmp_path, zone):
    with pytest.raises(ConfigError, match="FACTORY_TIMEZONE") as caught:
        Settings.from_env({"FACTORY_TIMEZONE": zone}, workdir=tmp_path)
    assert "\n" not in str(caught.value)


def test_webhook_switches(tmp_path):
    default = Settings.from_env({}, workdir=tmp_path)
    assert default.webhook_allow_private is False and default.webhook_delivery is True
    flipped = Settings.from_env({"FACTORY_WEBHOOK_ALLOW_PRIVATE": "1", "FACTORY_WEBHOOK_DELIVERY": "0"},
                                workdir=tmp_path)
    assert flipped.webhook_allow_private is True and flipped.webhook_delivery is False
    with pytest.raises(ConfigError, match="FACTORY_WEBHOOK_ALLOW_PRIVATE"):
        Settings.from_env({"FACTORY_WEBHOOK_ALLOW_PRIVATE": "maybe"}, workdir=tmp_path)


def test_mqtt_settings_and_their_errors_never_repeat_the_password():
    from core.config import ConfigError, Settings
    from services.floor.mqtt_consumer import broker_address, safe_url

    env = {"FACTORY_JWT_SECRET": "s" * 40}
    assert Settings.from_env(env).mqtt_url is None  # unset: no consumer
    on = Settings.from_env({**env, "FACTORY_MQTT_URL": "mqtts://plant:s3cret@broker.example:8883",
                            "FACTORY_MQTT_PREFIX": "hall2", "FACTORY_MQTT_OFFLINE_SECONDS": "45"})
    assert (on.mqtt_prefix, on.mqtt_offline_seconds) == ("hall2", 45.0)
    address = broker_address(on.mqtt_url)
    assert (address["hostname"], address["port"], address["username"], address["password"]) == (
        "broker.example", 8883, "plant", "s3cret")
    assert "tls_context" in address and safe_url(on.mqtt_url) == "mqtts://broker.example:8883"
    for bad in ("http://plant:s3cret@broker:1883", "mqtt://plant:s3cret@broker:99999", "mqtt://:1883"):
        with pytest.raises(ConfigError) as error:
            Settings.from_env({**env, "FACTORY_MQTT_URL": bad})
        assert "s3cret" not in str(error.value)
    with pytest.raises(ConfigError):
        Settings.from_env({**env, "FACTORY_MQTT_PREFIX": "a/#"})
