"""Letter templates: the company's stock letters, offered when a letter is written."""

from __future__ import annotations

from sqlmodel import Field

from crm.models.base import Record


class LetterTemplate(Record, table=True):
    """A letter's subject and text with merge fields such as ``{{counterparty.name}}``, filled when
    the letter is sent (``mail.templates``). Every user sees them (laptops get them by sync);
    administrators and office staff write them."""

    __tablename__ = "letter_template"

    name: str = Field(max_length=200, unique=True)
    subject: str = Field(default="", max_length=500)
    body: str = Field(default="", max_length=100_000)
