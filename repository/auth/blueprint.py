"""The auth blueprint: sign-in, sign-out and the IIIF Authorization services."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("auth", __name__, url_prefix="/auth")
