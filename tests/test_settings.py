"""Settings are read once: every key has a default, a bad value stops the app naming its
variable, and the environment reaches both apps through their factories."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

import image_server
from image_server import config as image_config
from repository import create_app
from repository.config import DEFAULTS
from repository.settings import SettingError, Settings, settings_of


class Recorder(Mapping[str, Any]):
    """An empty config that notes every key asked of it."""

    def __init__(self) -> None:
        self.asked: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        self.asked.add(key)
        raise KeyError(key)

    def get(self, key: str, default: Any = None) -> Any:
        self.asked.add(key)
        return default

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


@pytest.mark.pure
def test_every_key_the_repository_reads_has_a_default() -> None:
    asked = Recorder()
    settings = Settings.from_config(asked, Path("/srv/tangthu"))
    assert asked.asked and asked.asked <= set(DEFAULTS), asked.asked - set(DEFAULTS)
    assert settings.oai_page_size == DEFAULTS["OAI_PAGE_SIZE"]
    assert settings.storage_url == "file:///srv/tangthu/storage"
    new_keys = {"OAI_ADMIN_EMAIL", "OAI_PAGE_SIZE", "DISCOVERY_PAGE_SIZE", "S3_ENDPOINT"}
    new_keys |= {"QUEUE_URL", "QUEUE_EMBEDDED_WORKER", "USAGE_RECORDING", "USAGE_BATCH"}
    assert settings.queue_embedded_worker is None and settings.usage_flush_seconds == 5
    assert new_keys | {f"HARVEST_{k}" for k in ("DEADLINE", "MAX_BYTES", "MAX_PAGES")} <= set(
        DEFAULTS
    )


@pytest.mark.pure
def test_every_key_the_image_server_reads_has_a_default() -> None:
    asked = Recorder()
    settings = image_config.Settings.from_mapping(asked)
    assert asked.asked and asked.asked <= set(image_config.DEFAULTS)
    assert settings.trim_every == image_config.DEFAULTS["TRIM_EVERY"]


@pytest.mark.pure
@pytest.mark.parametrize(
    ("key", "value", "why"),
    [
        ("OAI_PAGE_SIZE", "many", "expected a whole number, not 'many'"),
        ("DISCOVERY_PAGE_SIZE", 0, "must be at least 1, not 0"),
        ("PUBLIC_URL", "thuvien.example.vn", "expected an http(s) address"),
        ("PYRAMID_QUALITY", 150, "a JPEG quality is 1 to 100, not 150"),
        ("SESSION_COOKIE_SECURE", "maybe", "expected true or false"),
        ("LIBRARY_NAME", ["Tàng Thư"], "expected a language map"),
        ("SEARCH_URL", "ftp://search", "must be empty, sqlite:///… or http(s)://…"),
        ("ONSITE_RANGES", "10.0.0.0/8,reading-room", "'reading-room' is not a network"),
        ("PARTNER_ORIGINS", "partner.example", "is not an origin"),
        ("HARVEST_DEADLINE", "soon", "expected a number"),
        ("QUEUE_URL", "amqp://broker", "sqlite:/// or redis://"),
        ("QUEUE_EMBEDDED_WORKER", "sometimes", "expected true or false"),
        ("USAGE_RECORDING", "maybe", "expected true or false"),
        ("USAGE_BATCH", 0, "must be at least 1, not 0"),
        ("USAGE_FLUSH_SECONDS", 0, "must be at least"),
    ],
)
def test_a_bad_value_is_refused_by_its_variable(key: str, value: Any, why: str) -> None:
    with pytest.raises(SettingError) as refused:
        Settings.from_config({**DEFAULTS, key: value}, Path("instance"))
    assert str(refused.value).startswith(f"TANGTHU_{key}: ") and why in str(refused.value)


def test_a_bad_value_stops_the_app(app_config: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"^TANGTHU_OAI_PAGE_SIZE: expected a whole number"):
        create_app({**app_config, "OAI_PAGE_SIZE": "many"})


def test_the_environment_reaches_the_settings(
    app_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TANGTHU_OAI_PAGE_SIZE", "7")
    monkeypatch.setenv("TANGTHU_OAI_ADMIN_EMAIL", "oai@thuvien.example.vn, it@thuvien.example.vn")
    monkeypatch.setenv("TANGTHU_HARVEST_MAX_PAGES", "12")
    settings = settings_of(create_app(app_config))
    assert settings.oai_page_size == 7 and settings.harvest_max_pages == 12
    assert settings.oai_admin_emails == ("oai@thuvien.example.vn", "it@thuvien.example.vn")
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.oai_page_size = 8  # type: ignore[misc]


@pytest.mark.pure
def test_s3_settings_come_from_the_config_and_keep_their_secrets() -> None:
    settings = Settings.from_config(
        {
            **DEFAULTS,
            "S3_ENDPOINT": "http://minio:9000",
            "S3_ACCESS_KEY": "tangthu",
            "S3_SECRET_KEY": "a-long-secret-for-the-bucket",
            "S3_CREATE_BUCKET": 1,  # as JSON makes TANGTHU_S3_CREATE_BUCKET=1
        },
        Path("instance"),
    )
    assert settings.s3_variables() == {
        "TANGTHU_S3_ENDPOINT": "http://minio:9000",
        "TANGTHU_S3_ACCESS_KEY": "tangthu",
        "TANGTHU_S3_SECRET_KEY": "a-long-secret-for-the-bucket",
        "TANGTHU_S3_CREATE_BUCKET": "1",
        "TANGTHU_S3_CACHE_MAX_BYTES": str(DEFAULTS["S3_CACHE_MAX_BYTES"]),
        "TANGTHU_S3_CACHE_REVALIDATE_SECONDS": "0.0",
    }
    assert "a-long-secret" not in repr(settings)


@pytest.mark.parametrize(
    ("key", "value"),
    [("TRIM_EVERY", 0), ("LANE_WAIT", "a while"), ("VIPS_LOCKDOWN", "sometimes")],
)
def test_the_image_server_refuses_a_bad_value_by_its_variable(key: str, value: Any) -> None:
    with pytest.raises(ValueError, match=f"^TANGTHU_{key}: "):
        image_server.create_app({"VIPS_LOCKDOWN": False, key: value})


@pytest.mark.pure
def test_the_image_server_reads_trim_every_from_the_environment() -> None:
    layered = image_config.load_config(environ={"TANGTHU_TRIM_EVERY": "16"})
    assert image_config.Settings.from_mapping(layered).trim_every == 16
