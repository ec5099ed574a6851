"""Admin forms: validated with Flask-WTF, errors shown next to each field."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import MultipleFileField
from wtforms import SelectField, StringField
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, Regexp

DIRECTIONS = [
    SelectChoice("left-to-right", _l("Left to right")),
    SelectChoice("right-to-left", _l("Right to left (Hán-Nôm)")),
    SelectChoice("top-to-bottom", _l("Top to bottom")),
]


class CollectionForm(FlaskForm):
    slug = StringField(
        _l("Short name (for the address)"),
        validators=[
            DataRequired(),
            Length(max=80),
            Regexp(r"^[a-z0-9][a-z0-9-]*$", message=_l("Use lowercase letters, digits and -.")),
        ],
    )
    title_vi = StringField(_l("Title (Vietnamese)"), validators=[DataRequired(), Length(max=500)])
    title_en = StringField(_l("Title (English)"), validators=[Optional(), Length(max=500)])


class ItemForm(FlaskForm):
    collection = SelectField(_l("Collection"), validators=[DataRequired()])
    title_vi = StringField(_l("Title (Vietnamese)"), validators=[DataRequired(), Length(max=500)])
    title_en = StringField(_l("Title (English)"), validators=[Optional(), Length(max=500)])
    viewing_direction = SelectField(_l("Reading direction"), choices=DIRECTIONS)
    pages = MultipleFileField(_l("Page images or PDF"))


class UploadForm(FlaskForm):
    pages = MultipleFileField(_l("Page images or PDF"))


class PublishForm(FlaskForm):
    pass
