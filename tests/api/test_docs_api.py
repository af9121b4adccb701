"""docs/api.md cannot rot: it is checked against the app's own OpenAPI document.

Every operation of ``/openapi.json`` has a ``### `METHOD /path``` section, no section names
an operation the app does not have, and each section names (in backticks) every query
parameter and every top-level field of its JSON request and success response (itself, or
in a section it refers to "as in `METHOD /path`").
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from api.app import create_app
from vbs.config import Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
HEADING = re.compile(r"^### `(GET|POST|PUT|PATCH|DELETE) (/\S*)`\s*$", re.MULTILINE)
METHODS = ("get", "post", "put", "patch", "delete")
AS_IN = re.compile(r"as in `(GET|POST|PUT|PATCH|DELETE) (/\S*)`")


@pytest.fixture(scope="module")
def openapi(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    # The document is built from the routes alone: no servers are started.
    app = create_app(Settings(data_dir=tmp_path_factory.mktemp("docs-api")))
    doc: dict[str, Any] = app.openapi()
    return doc


@pytest.fixture(scope="module")
def sections() -> dict[tuple[str, str], str]:
    text = DOC.read_text(encoding="utf-8")
    found = list(HEADING.finditer(text))
    out: dict[tuple[str, str], str] = {}
    for i, m in enumerate(found):
        end = found[i + 1].start() if i + 1 < len(found) else len(text)
        nxt = text.find("\n## ", m.end())
        if 0 <= nxt < end:
            end = nxt
        key = (m.group(1), m.group(2))
        assert key not in out, f"{key} is documented twice"
        out[key] = text[m.end() : end]
    return out


def _operations(openapi: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, op)
        for path, item in openapi["paths"].items()
        for method, op in item.items()
        if method in METHODS
    ]


def _resolve(openapi: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        resolved: dict[str, Any] = openapi["components"]["schemas"][name]
        return resolved
    if schema.get("type") == "array" and "items" in schema:
        return _resolve(openapi, schema["items"])
    return schema


def _json_fields(openapi: dict[str, Any], content: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    for media_type in ("application/json", "multipart/form-data"):
        media = content.get(media_type)
        if media and "schema" in media:
            names |= set(_resolve(openapi, media["schema"]).get("properties", {}))
    return names


def _expected_names(openapi: dict[str, Any], op: dict[str, Any]) -> set[str]:
    names = {p["name"] for p in op.get("parameters", []) if p["in"] == "query"}
    names |= _json_fields(openapi, op.get("requestBody", {}).get("content", {}))
    for status, response in op.get("responses", {}).items():
        if status.startswith("2"):
            names |= _json_fields(openapi, response.get("content", {}))
    return names


def test_every_operation_is_documented(
    openapi: dict[str, Any], sections: dict[tuple[str, str], str]
) -> None:
    ops = _operations(openapi)
    assert len(ops) > 30  # the whole API, not an empty document
    missing = [f"{m} {p}" for m, p, _ in ops if (m, p) not in sections]
    assert missing == []


def test_no_documented_operation_is_unknown(
    openapi: dict[str, Any], sections: dict[tuple[str, str], str]
) -> None:
    known = {(m, p) for m, p, _ in _operations(openapi)}
    stale = [f"{m} {p}" for m, p in sections if (m, p) not in known]
    assert stale == []


def test_each_section_names_its_parameters_and_fields(
    openapi: dict[str, Any], sections: dict[tuple[str, str], str]
) -> None:
    unnamed: list[str] = []
    for method, path, op in _operations(openapi):
        section = sections.get((method, path), "")
        # "as in `GET /v1/...`": fields may be named once, in the section referred to.
        for ref in AS_IN.findall(section):
            section += sections.get(ref, "")
        for name in sorted(_expected_names(openapi, op)):
            if f"`{name}`" not in section:
                unnamed.append(f"{method} {path}: `{name}`")
    assert unnamed == []


def test_every_problem_status_is_explained() -> None:
    text = DOC.read_text(encoding="utf-8")
    for status in (401, 403, 404, 409, 413, 415, 422, 429, 503):
        assert re.search(rf"^\| {status} \| \S", text, re.MULTILINE), status
    assert "application/problem+json" in text
    assert "errors: [{field, message}]" in text
