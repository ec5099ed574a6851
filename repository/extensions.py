"""Extensions, created unbound and bound to an app in create_app."""

from __future__ import annotations

from flask_babel import Babel
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    # Named constraints keep migrations portable between SQLite and PostgreSQL.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


db = SQLAlchemy(model_class=Base)
csrf = CSRFProtect()
babel = Babel()
login_manager = LoginManager()
migrate = Migrate()


def ensure_database() -> None:
    """Bring the database to the newest schema through the migrations (idempotent).

    A database whose tables were made by ``db.create_all()`` from these same models (as
    the test fixtures do) is marked as current instead of migrated.
    """
    from flask_migrate import stamp, upgrade
    from sqlalchemy import inspect

    tables = inspect(db.engine).get_table_names()
    # "heads": every branch, so two migrations written side by side never stop a start.
    if "alembic_version" not in tables and "item" in tables:
        stamp(revision="heads")
    else:
        upgrade(revision="heads")
