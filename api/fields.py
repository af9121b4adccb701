"""Text field types shared by the request models: lengths bounded, no control characters.

PostgreSQL refuses NUL bytes and lone surrogates in text; refusing control characters at the
edge turns such input into a 422 naming the field instead of a database error.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

_CONTROL = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")
_CONTROL_IN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def single_line(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


def free_text(value: str) -> str:
    if _CONTROL_IN_TEXT.search(value):
        raise ValueError("must not contain control characters other than line breaks and tabs")
    return value


Reference = Annotated[str, Field(min_length=1, max_length=100), AfterValidator(single_line)]
Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(single_line)]
FullName = Annotated[str, Field(min_length=1, max_length=400), AfterValidator(single_line)]
Reason = Annotated[str, Field(min_length=1, max_length=2000), AfterValidator(free_text)]
Email = Annotated[str, Field(min_length=3, max_length=254), AfterValidator(single_line)]
Password = Annotated[str, Field(min_length=1, max_length=256), AfterValidator(single_line)]
