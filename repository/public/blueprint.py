"""The public blueprint: what researchers and partners read."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("public", __name__)
