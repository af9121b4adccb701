"""The OpenAPI document describes errors as the app sends them: problem+json with
``errors: [{field, message}]`` (not FastAPI's default HTTPValidationError), the usual
401/403/404/429/503 answers listed, and the batch upload's multipart body documented."""

from __future__ import annotations

from typing import Any

import jsonschema_rs
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from tests.api.conftest import Accounts
from vbs.config import Settings

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    doc: dict[str, Any] = create_app(Settings(data_dir=tmp_path_factory.mktemp("oa"))).openapi()
    return doc


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m, p, op) for p, item in doc["paths"].items() for m, op in item.items()]


def test_every_error_response_is_problem_json(document: dict[str, Any]) -> None:
    assert "HTTPValidationError" not in document["components"]["schemas"]
    wrong = []
    for method, path, op in _operations(document):
        if not path.startswith("/v1/"):
            continue  # /readyz answers its own JSON report with 503
        for status, response in op["responses"].items():
            if int(status) >= 400:
                content = response.get("content", {})
                if content.get("application/problem+json", {}).get("schema") != PROBLEM_REF:
                    wrong.append(f"{method} {path} {status}")
    assert wrong == []


def test_usual_problems_are_listed(document: dict[str, Any]) -> None:
    check = document["paths"]["/v1/checks/{check_id}"]["get"]["responses"]
    assert {"401", "403", "404", "422", "503"} <= set(check)
    create = document["paths"]["/v1/checks"]["post"]["responses"]
    assert "429" in create
    upload = document["paths"]["/v1/batches"]["post"]
    assert {"413", "415", "422", "429"} <= set(upload["responses"])
    body = upload["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert set(body["required"]) == {"file", "eligibility_confirmed", "consent_confirmed"}
    problem = document["components"]["schemas"]["Problem"]
    assert problem["properties"]["errors"]["items"]["required"] == ["field", "message"]


def test_a_real_422_matches_the_documented_problem(
    client: TestClient, accounts: Accounts, document: dict[str, Any]
) -> None:
    c = accounts.client_as(accounts.api_key())
    res = c.post("/v1/checks", json={"reference": "", "workforce": "kids"})
    assert res.status_code == 422
    assert res.headers["content-type"].startswith("application/problem+json")
    body = res.json()
    jsonschema_rs.validate(document["components"]["schemas"]["Problem"], body)
    assert {e["field"] for e in body["errors"]} >= {"reference", "workforce", "surname"}
    for error in body["errors"]:
        assert set(error) == {"field", "message"}
