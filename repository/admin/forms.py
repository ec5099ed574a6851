"""Admin forms: validated with Flask-WTF, errors shown next to each field."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired, MultipleFileField
from wtforms import (
    BooleanField,
    DateField,
    Field,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
    URLField,
)
from wtforms.fields import SelectChoice
from wtforms.validators import (
    URL,
    DataRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from ..services.cataloguing import parse_titles, parse_values

# Tesseract language packs a curator may choose; only the installed ones are offered.
OCR_LANGUAGES = [
    SelectChoice("", _l("No text recognition")),
    SelectChoice("vie", _l("Vietnamese (Quốc ngữ)")),
    SelectChoice("vie+eng", _l("Vietnamese and English")),
    SelectChoice("vie+fra", _l("Vietnamese and French")),
    SelectChoice("eng", _l("English")),
    SelectChoice("fra", _l("French")),
    SelectChoice("chi_tra", _l("Classical Chinese (Hán)")),
    SelectChoice("chi_tra_vert", _l("Classical Chinese (Hán), vertical lines")),
]
INHERIT = "collection"


def ocr_choices(inherit: bool = False) -> list[SelectChoice]:
    from ..services.ocr import installed_languages

    installed = set(installed_languages())
    offered = [c for c in OCR_LANGUAGES if set(c.value.split("+")) <= installed or not c.value]
    if inherit:
        offered.insert(0, SelectChoice(INHERIT, _l("As the collection says")))
    return offered


DIRECTIONS = [
    SelectChoice("left-to-right", _l("Left to right")),
    SelectChoice("right-to-left", _l("Right to left (Hán-Nôm)")),
    SelectChoice("top-to-bottom", _l("Top to bottom")),
]


class UploadForm(FlaskForm):
    pages = MultipleFileField(_l("Page images or PDF"))


class PublishForm(FlaskForm):
    pass


class ReplaceForm(FlaskForm):
    """One new image for an existing page: it keeps the page's place and label."""

    image = FileField(
        _l("New image for this page"),
        validators=[FileRequired(_l("Choose the new image for this page."))],
    )


# Folio labels given to every page in order; the labels are data, not interface text.
FOLIO_SCHEMES = [
    SelectChoice("to", _l("Leaves: tờ 1a, tờ 1b, tờ 2a…")),
    SelectChoice("rv", _l("Recto and verso: 1r, 1v, 2r…")),
]


class FolioForm(FlaskForm):
    scheme = SelectField(_l("Label every page as"), choices=FOLIO_SCHEMES)


ACCESS_LEVELS = [
    SelectChoice("open", _l("Open to all")),
    SelectChoice("degraded", _l("Reduced images for the public")),
    SelectChoice("restricted", _l("Restricted: signed-in readers")),
    SelectChoice("onsite", _l("Reading room only")),
    SelectChoice("staff", _l("Staff only (hidden)")),
]
BEHAVIORS = [
    SelectChoice("paged", _l("Book: facing pages")),
    SelectChoice("individuals", _l("Separate sheets")),
    SelectChoice("continuous", _l("Scroll: one long strip")),
]
DC_LABELS = {
    "creator": _l("Creator"),
    "contributor": _l("Contributor"),
    "date": _l("Date as written (e.g. Tự Đức năm thứ 3)"),
    "publisher": _l("Publisher"),
    "subject": _l("Subjects"),
    "description": _l("Description"),
    "type": _l("Type"),
    "format": _l("Format"),
    "source": _l("Source"),
    "rights": _l("Rights statement"),
    "relation": _l("Relation"),
    "coverage": _l("Coverage (place, period)"),
    "language": _l("Languages (vi, lzh, vi-Hani, fr, en…)"),
    "identifier": _l("Call number"),
}


# The cataloguing service's refusals of titles and tags, written here as well so that
# `make translations` extracts them; each is the service's English text, word for word.
TAG_REFUSALS = (
    _l(
        "A language tag looks like vi, vi-Hani, lzh or zh-Hant: letters and hyphens, "
        "at most 35 characters."
    ),
    _l("Start each title with its language tag in brackets, such as [lzh] or [vi-Hani]."),
    _l("Give each language only one title here."),
    _l("Give the Vietnamese and English titles in their own fields."),
    _l("A title may have at most 500 characters."),
)


def tagged_titles(form: FlaskForm, field: Field) -> None:
    """Each line "[tag] title", with a tag of BCP 47's shape, once per language."""
    try:
        parse_titles(field.data or "")
    except ValueError as exc:
        raise ValidationError(_(str(exc))) from None


def tagged_values(form: FlaskForm, field: Field) -> None:
    """Any "[tag]" a line starts with has BCP 47's shape."""
    try:
        parse_values(field.data or "")
    except ValueError as exc:
        raise ValidationError(_(str(exc))) from None


class ItemEditForm(FlaskForm):
    title_vi = StringField(_l("Title (Vietnamese)"), validators=[DataRequired(), Length(max=500)])
    title_en = StringField(_l("Title (English)"), validators=[Optional(), Length(max=500)])
    titles_other = TextAreaField(
        _l("Titles in other languages and scripts"),
        validators=[Length(max=5000), tagged_titles],
        description=_l(
            "One a line, each starting with its language tag: [vi-Hani] for chữ Nôm, "
            "[lzh] for Hán (classical Chinese), [zh], [fr]…"
        ),
    )
    summary_vi = TextAreaField(_l("Summary (Vietnamese)"), validators=[Length(max=5000)])
    summary_en = TextAreaField(_l("Summary (English)"), validators=[Length(max=5000)])
    year_start = IntegerField(_l("From year"), validators=[Optional(), NumberRange(-3000, 2200)])
    year_end = IntegerField(_l("To year"), validators=[Optional(), NumberRange(-3000, 2200)])
    viewing_direction = SelectField(_l("Reading direction"), choices=DIRECTIONS)
    behavior = SelectField(_l("Layout"), choices=BEHAVIORS)
    rights = URLField(
        _l("Rights URI (Creative Commons or RightsStatements.org)"),
        validators=[Optional(), URL(require_tld=True), Length(max=255)],
    )
    access = SelectField(_l("Access"), choices=ACCESS_LEVELS)
    embargo_until = DateField(_l("Embargo until"), validators=[Optional()])
    ocr_languages = SelectField(_l("Text recognition (OCR)"), default=INHERIT)


def dc_field(name: str) -> TextAreaField:
    """The field of one Dublin Core element: one value a line, each maybe tagged."""
    return TextAreaField(DC_LABELS[name], validators=[Length(max=20000), tagged_values])


for _name in DC_LABELS:
    setattr(ItemEditForm, f"dc_{_name}", dc_field(_name))


class ItemForm(FlaskForm):
    """A new item: enough to describe it, its pages, and to publish it at once."""

    collection = SelectField(_l("Collection"), validators=[DataRequired()])
    title_vi = StringField(_l("Title (Vietnamese)"), validators=[DataRequired(), Length(max=500)])
    title_en = StringField(_l("Title (English)"), validators=[Optional(), Length(max=500)])
    dc_creator = dc_field("creator")
    viewing_direction = SelectField(_l("Reading direction"), choices=DIRECTIONS)
    pages = MultipleFileField(_l("Page images or PDF"))


class OutlineForm(FlaskForm):
    toc = TextAreaField(_l("Table of contents"), validators=[Length(max=50000)])


class BulkForm(FlaskForm):
    action = SelectField(
        _l("With the selected items"),
        choices=[
            SelectChoice("publish", _l("Publish")),
            SelectChoice("withdraw", _l("Withdraw")),
            *[SelectChoice(f"access:{c.value}", c.label) for c in ACCESS_LEVELS],
        ],
    )


# Accounts, reader groups, spreadsheet import and harvest sources (issue #22).

ROLE_CHOICES = [
    SelectChoice("reader", _l("Reader")),
    SelectChoice("curator", _l("Curator")),
    SelectChoice("admin", _l("Administrator")),
]


class UserForm(FlaskForm):
    username = StringField(
        _l("Username or e-mail"), validators=[DataRequired(), Length(min=3, max=80)]
    )
    password = PasswordField(
        _l("Password (at least 10 characters)"), validators=[DataRequired(), Length(max=200)]
    )
    role = SelectField(_l("Role"), choices=ROLE_CHOICES, default="reader")


class RoleForm(FlaskForm):
    role = SelectField(_l("Role"), choices=ROLE_CHOICES)


class MembershipForm(FlaskForm):
    group = SelectField(_l("Reader group"), coerce=int, validate_choice=True)


class ConfirmForm(FlaskForm):
    """A button that changes something: only its CSRF token."""


class GroupForm(FlaskForm):
    name = StringField(_l("Short name"), validators=[DataRequired(), Length(max=80)])
    label_vi = StringField(_l("Name (Vietnamese)"), validators=[Length(max=200)])
    label_en = StringField(_l("Name (English)"), validators=[Length(max=200)])


class ImportForm(FlaskForm):
    spreadsheet = FileField(_l("Open-data CSV file"), validators=[FileRequired()])
    collection = SelectField(_l("Collection"), coerce=int, validate_choice=True)
    institution = StringField(_l("Institution that holds the records"), [Length(max=255)])
    publish = BooleanField(_l("Publish the records so they are found"))


class HarvestSourceForm(FlaskForm):
    url = URLField(_l("OAI-PMH base address"), validators=[DataRequired(), Length(max=1000)])
    institution = StringField(_l("Institution"), validators=[Length(max=255)])
    set_spec = StringField(_l("OAI set (empty: all records)"), validators=[Length(max=200)])
    collection = SelectField(_l("Collection"), coerce=int, validate_choice=True)
