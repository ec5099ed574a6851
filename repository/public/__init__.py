"""Public pages for researchers: home, collections and items (``pages``), search,
the language switch, health probes, and the open data and sitemaps (``opendata``)."""

from . import (  # views register on bp
    cite,
    fonts,
    health,
    language,
    opendata,
    pages,
    search,
    statistics,
)
from .blueprint import bp

__all__ = ["bp", "cite", "fonts", "health", "language", "opendata", "pages", "search", "statistics"]
