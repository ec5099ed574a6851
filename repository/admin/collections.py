"""Collections in the admin (being written)."""

from __future__ import annotations
