"""Flask-WTF forms: every one carries the CSRF token; cleaning mirrors the CSV importer."""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed
from flask_wtf.file import FileField
from flask_wtf.file import FileRequired
from wtforms import BooleanField
from wtforms import FloatField
from wtforms import HiddenField
from wtforms import IntegerField
from wtforms import PasswordField
from wtforms import RadioField
from wtforms import SelectChoice
from wtforms import SelectField
from wtforms import StringField
from wtforms import TextAreaField
from wtforms.validators import DataRequired
from wtforms.validators import Length
from wtforms.validators import NumberRange
from wtforms.validators import ValidationError

from bot.csv_io import MAX_MESSAGE_CHARS
from bot.csv_io import MAX_QUESTION_CHARS
from bot.input_rules import forbidden_character
from bot.input_rules import normalise
from training.tabular import normalise_key


def squash(value: Any) -> Any:
    """Collapse runs of whitespace and NFC-normalise, as the CSV importer does for questions."""
    return normalise(" ".join(value.split())) if isinstance(value, str) else value


def strip(value: Any) -> Any:
    return normalise(value.strip()) if isinstance(value, str) else value


def plain_text(_form: FlaskForm, field: Any) -> None:
    """Refuse what no person types (control characters, lone surrogates), as every channel does."""
    bad = forbidden_character(field.data) if isinstance(field.data, str) else None
    if bad is not None:
        raise ValidationError(f"contains {bad}")


def split_lines(text: str | None) -> list[str]:
    """One phrasing per line, cleaned, duplicates (ignoring case and spacing) dropped."""
    seen: set[str] = set()
    lines: list[str] = []
    for line in (text or "").splitlines():
        cleaned = squash(line)
        if cleaned and normalise_key(cleaned) not in seen:
            seen.add(normalise_key(cleaned))
            lines.append(cleaned)
    return lines


class LoginForm(FlaskForm):
    username = StringField(
        "Username", [DataRequired(), Length(max=100), plain_text], filters=[strip]
    )
    password = PasswordField("Password", [DataRequired(), Length(max=1000), plain_text])


class ActionForm(FlaskForm):
    """A button that changes something: only the CSRF token is needed."""


class FaqForm(FlaskForm):
    question = StringField(
        "Question", [DataRequired(), Length(max=MAX_QUESTION_CHARS), plain_text], filters=[squash]
    )
    answer = TextAreaField(
        "Answer", [DataRequired(), Length(max=20000), plain_text], filters=[strip]
    )
    category = StringField("Category", [Length(max=100), plain_text], filters=[squash])
    alternates = TextAreaField(
        "Alternate questions",
        [plain_text],
        description="Other ways of asking the same thing, one per line.",
    )
    active = BooleanField("Active (the bot answers with it)", default=True)
    queries = HiddenField()  # inbox messages this new FAQ answers (comma-separated ids)

    def validate_alternates(self, field: TextAreaField) -> None:
        for line in split_lines(field.data):
            if len(line) > MAX_QUESTION_CHARS:
                raise ValidationError(f"each line must be at most {MAX_QUESTION_CHARS} characters")

    def alternate_list(self) -> list[str]:
        own = normalise_key(self.question.data or "")
        return [line for line in split_lines(self.alternates.data) if normalise_key(line) != own]


class PairForm(FlaskForm):
    text = TextAreaField(
        "User message",
        [DataRequired(), Length(max=MAX_MESSAGE_CHARS), plain_text],
        filters=[squash],
    )
    faq_id = SelectField("Means the FAQ", coerce=int, validators=[DataRequired()])
    approved = BooleanField("Approved (used for the index and training)", default=True)


class OutOfScopeForm(FlaskForm):
    text = TextAreaField(
        "User message", [DataRequired(), Length(max=MAX_MESSAGE_CHARS)], filters=[squash]
    )
    approved = BooleanField("Approved (the bot refuses messages like it)", default=True)


class TestForm(FlaskForm):
    message = TextAreaField("Message", [DataRequired(), Length(max=4000)])


class ImportForm(FlaskForm):
    file = FileField(
        "FAQ file (.csv or .xlsx)",
        validators=[FileRequired(), FileAllowed(["csv", "xlsx"], "only .csv or .xlsx files")],
    )


class ConfirmImportForm(FlaskForm):
    token = HiddenField(validators=[DataRequired()])


class AttachForm(FlaskForm):
    faq_id = SelectField("FAQ", coerce=int, validators=[DataRequired()])
    kind = RadioField(
        "Add as",
        choices=[
            SelectChoice("pair", "training pair"),
            SelectChoice("alternate", "alternate question"),
        ],
        default="pair",
    )


class HandoffAnswerForm(FlaskForm):
    answer = TextAreaField(
        "Answer", [DataRequired(), Length(max=4000), plain_text], filters=[strip]
    )


class RetrainForm(FlaskForm):
    epochs = FloatField("Epochs", [NumberRange(min=0.1, max=50)])
    batch_size = IntegerField("Batch size", [NumberRange(min=2, max=512)])
    learning_rate = FloatField("Learning rate", [NumberRange(min=1e-7, max=0.1)])
    force = BooleanField("Activate even if it scores worse than the active version")
