"""Public pages for researchers: home, collections and items (``pages``), search,
the language switch, health probes, and the open data and sitemaps (``opendata``)."""

from . import cite, health, language, opendata, pages, search  # their views register on bp
from .blueprint import bp

__all__ = ["bp", "cite", "health", "language", "opendata", "pages", "search"]
