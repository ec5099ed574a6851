"""Helpers shared by tests: generated images, form tokens, and settings."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pyvips
from flask import Flask

from repository.settings import EXTENSION, Settings


def tile_colour(tx: int, ty: int) -> list[int]:
    """A distinct colour for every 256-px cell, so a tile's pixels show where it came from."""
    return [(40 + 50 * tx) % 256, (30 + 70 * ty) % 256, 128]


def draw_grid_image(width: int, height: int, cell: int = 256) -> pyvips.Image:
    """An sRGB image whose cells are flat colours from ``tile_colour``."""
    image = pyvips.Image.black(width, height, bands=3).copy(interpretation="srgb")
    for ty in range(0, (height + cell - 1) // cell):
        for tx in range(0, (width + cell - 1) // cell):
            image = image.draw_rect(
                tile_colour(tx, ty), tx * cell, ty * cell, cell, cell, fill=True
            )
    return image.cast("uchar")


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html
    )
    assert match, "no CSRF token in the form"
    return match.group(1)


def open_policy(storage: object, identifier: str, sha256: str = "") -> None:
    """Write the sidecar that publishing an open item writes, so anyone may see the image."""
    import json
    from pathlib import Path

    folder = Path(str(storage)) / "policies"
    folder.mkdir(parents=True, exist_ok=True)
    policy = {"access": "open", "public": "full", "full_for": ["staff"]}
    if sha256:
        policy["sha256"] = sha256
    (folder / f"{identifier}.json").write_text(json.dumps(policy))


def post_sign_in(client: object, username: str, password: str) -> object:
    """Submit the sign-in form as a browser would, with its CSRF token; the response."""
    token = csrf_token(client.get("/auth/login").get_data(as_text=True))  # type: ignore[attr-defined]
    return client.post(  # type: ignore[attr-defined]
        "/auth/login",
        data={"username": username, "password": password, "csrf_token": token},
        headers={"Accept-Language": "en"},
    )


def sign_in(client: object, username: str, password: str) -> None:
    """Sign a Flask test client in, and insist that it worked."""
    response = post_sign_in(client, username, password)
    assert response.status_code == 302, response.get_data(as_text=True)  # type: ignore[attr-defined]


def reconfigure(app: Flask, **changes: Any) -> None:
    """Change settings of an app already made, as if it had been made with them: they are
    checked again (ValueError naming the variable) before anything changes."""
    settings = Settings.from_config({**app.config, **changes}, Path(app.instance_path))
    app.config.update(changes)
    app.extensions[EXTENSION] = settings


def curator_in_browser(
    browser: Any, web: str, size: tuple[int, int], language: str
) -> tuple[Any, Any, list[str]]:
    """A new Chromium context at ``size`` in ``language`` (vi or en), signed in as the
    sample site's curator: the context, its page, and the console errors it collects."""
    context = browser.new_context(
        viewport={"width": size[0], "height": size[1]},
        locale="vi-VN" if language == "vi" else "en-US",
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{web}/auth/login")
    page.fill("input[name=username]", "thuthu")
    page.fill("input[name=password]", "mat-khau-thu-thu")
    page.click("main button[type=submit]")
    page.wait_for_url(f"{web}/")
    return context, page, errors


def count_statements(app: Flask, client: Any, url: str) -> int:
    """How many SQL statements one GET of ``url`` sends (it must answer 200)."""
    from sqlalchemy import event

    from repository.extensions import db

    counted: list[str] = []
    with app.app_context():
        engine = db.engine

    def listener(*args: object) -> None:
        counted.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", listener)
    try:
        assert client.get(url).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    return len(counted)
