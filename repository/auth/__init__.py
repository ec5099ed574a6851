"""Sign in and out (``signin``), single sign-on (``oidc``), and the IIIF Authorization
services (``iiif``), all on one blueprint (``blueprint``)."""

from . import iiif, oidc, signin  # their views register on bp
from .blueprint import bp

__all__ = ["bp", "iiif", "oidc", "signin"]
