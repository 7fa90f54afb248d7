"""`GET /api/openapi.json`: a valid OpenAPI 3 document generated from the models that validate.

Most checks build the document in-process (no database needed); one fetches it over HTTP.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate
from pydantic import BaseModel

from bot.settings import Settings
from storage.engine import create_engine
from tests.conftest import API_TOKEN
from tests.factories import draft_body, lead_body
from web.app import api_endpoints, create_app
from web.endpoints import Endpoint
from web.openapi import REF, build_openapi

# CONTRACT §3, route by route.
CONTRACT_ROUTES = {
    ("get", "/health"),
    ("post", "/api/draft/create"),
    ("get", "/api/draft/{draft_id}"),
    ("get", "/api/drafts"),
    ("post", "/api/event/log"),
    ("get", "/api/events"),
    ("post", "/api/leads"),
    ("get", "/api/leads"),
    ("get", "/api/lead/{lead_id}"),
    ("patch", "/api/lead/{lead_id}"),
    ("get", "/api/sessions"),
    ("get", "/api/session/{session_id}"),
    ("get", "/api/openapi.json"),
    ("get", "/api/schedules"),
    ("post", "/api/schedules"),
    ("delete", "/api/schedule/{schedule_id}"),
    ("get", "/api/stats"),
}


@pytest.fixture
async def app(tmp_path: Path) -> Any:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}",
        api_token=API_TOKEN,
        environment="test",
    )
    engine = create_engine(settings.database_url)
    yield create_app(settings, engine)
    await engine.dispose()


@pytest.fixture
async def document(aiohttp_client: Any, app: web.Application) -> dict[str, Any]:
    client: TestClient = await aiohttp_client(app)
    response = await client.get(
        "/api/openapi.json", headers={"Authorization": f"Bearer {API_TOKEN}"}
    )
    assert response.status == 200
    assert response.content_type == "application/json"
    return await response.json()


def operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method, path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }


def test_document_is_valid_openapi_3(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.")
    validate(document)


def test_every_contract_route_is_described(document: dict[str, Any]) -> None:
    missing = CONTRACT_ROUTES - set(operations(document))
    assert not missing


def test_document_and_router_list_the_same_routes(
    app: web.Application, document: dict[str, Any]
) -> None:
    served = {
        (route.method.lower(), route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None
    }
    assert served == set(operations(document))


def test_auth_is_described(document: dict[str, Any]) -> None:
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": document["components"]["securitySchemes"]["bearer"]["description"],
    }
    for (method, path), operation in operations(document).items():
        if path.startswith("/api/"):
            assert operation["security"] == [{"bearer": []}], (method, path)
            assert "401" in operation["responses"], (method, path)
    assert "security" not in operations(document)[("get", "/health")]


def test_errors_are_described_with_the_error_shape(document: dict[str, Any]) -> None:
    expected = {
        ("post", "/api/draft/create"): {"400", "401", "413", "415", "422", "503"},
        ("get", "/api/drafts"): {"400", "401", "503"},
        ("get", "/api/draft/{draft_id}"): {"401", "404", "503"},
        ("patch", "/api/lead/{lead_id}"): {"400", "401", "404", "409", "413", "415", "422", "503"},
    }
    ops = operations(document)
    for key, statuses in expected.items():
        assert statuses <= set(ops[key]["responses"]), key
        for status in statuses:
            content = ops[key]["responses"][status]["content"]["application/json"]
            assert content["schema"] == {"$ref": REF.format(model="ErrorBody")}


def _model_schema(model: type[BaseModel], mode: str) -> tuple[dict[str, Any], dict[str, Any]]:
    schema = model.model_json_schema(ref_template=REF, mode=mode)  # type: ignore[arg-type]
    return schema, schema.pop("$defs", {})


def test_component_schemas_are_the_pydantic_models_schemas(document: dict[str, Any]) -> None:
    components = document["components"]["schemas"]
    checked = set()
    for endpoint in api_endpoints():
        pairs: list[tuple[type[BaseModel], str]] = [
            (model, "serialization") for model in endpoint.responses.values() if model
        ]
        if endpoint.body is not None:
            pairs.append((endpoint.body, "validation"))
        for model, mode in pairs:
            schema, defs = _model_schema(model, mode)
            assert components[model.__name__] == schema, model.__name__
            for name, nested in defs.items():
                assert components[name] == nested, name
            checked.add(model.__name__)
    assert {"DraftCreate", "EventCreate", "LeadCreate", "LeadPatch", "DraftOut"} <= checked


def _non_null(schema: dict[str, Any]) -> dict[str, Any]:
    """An optional query parameter's schema without the `null` branch a query cannot send."""
    schema = {key: value for key, value in schema.items() if key not in ("default", "title")}
    branches = [branch for branch in schema.pop("anyOf", []) if branch != {"type": "null"}]
    if len(branches) == 1:
        schema.update(branches[0])
    elif branches:
        schema["anyOf"] = branches
    return schema


def test_query_parameters_are_the_query_models_fields(document: dict[str, Any]) -> None:
    ops = operations(document)
    endpoints: list[Endpoint] = [e for e in api_endpoints() if e.query is not None]
    assert {e.path for e in endpoints} == {
        "/api/drafts",
        "/api/events",
        "/api/leads",
        "/api/sessions",
        "/api/threads",
        "/api/stats",
    }
    for endpoint in endpoints:
        assert endpoint.query is not None
        properties = endpoint.query.model_json_schema(ref_template=REF)["properties"]
        parameters = {
            parameter["name"]: parameter
            for parameter in ops[(endpoint.method.lower(), endpoint.path)]["parameters"]
            if parameter["in"] == "query"
        }
        assert set(parameters) == set(properties), endpoint.path
        for name, parameter in parameters.items():
            assert parameter["required"] is False
            assert _non_null(parameter["schema"]) == _non_null(properties[name]), name


def _validator(document: dict[str, Any], model: str) -> OAS31Validator:
    root = {"$ref": REF.format(model=model), "components": document["components"]}
    return OAS31Validator(root)


def test_the_document_accepts_and_refuses_what_the_server_does(
    document: dict[str, Any],
) -> None:
    draft = _validator(document, "DraftCreate")
    assert draft.is_valid(draft_body())
    assert draft.is_valid(draft_body(context={"a": [1]}, citizen="emma"))
    for invalid in [
        draft_body(confidence="85"),
        draft_body(confidence=True),
        draft_body(confidence=101),
        draft_body(client=""),
        draft_body(client="c" * 201),
        draft_body(extra=1),
        {key: value for key, value in draft_body().items() if key != "draft_text"},
    ]:
        assert not draft.is_valid(invalid), invalid
    lead = _validator(document, "LeadCreate")
    assert lead.is_valid(lead_body(urgency=10, pain=1))
    assert not lead.is_valid(lead_body(decision="MAYBE"))
    assert not lead.is_valid(lead_body(pain=11))
    event = _validator(document, "EventCreate")
    assert event.is_valid({"event": "draft.created@1.0", "payload": {}})
    assert not event.is_valid({"event": "Draft@1.0", "payload": {}})
    assert not event.is_valid({"event": "a" * 47 + "@1.0", "payload": {}})


def test_the_whole_service_document_is_valid_with_unique_operation_ids() -> None:
    """The service also serves the webhooks; the document it publishes must stay valid."""
    from web import webhooks
    from web.openapi import openapi_endpoint
    from web.telegram_webhook import telegram_webhook_endpoints

    async def feed(update: dict[str, Any]) -> bool:
        return True

    endpoints = [
        *api_endpoints(),
        *webhooks.ENDPOINTS,
        *telegram_webhook_endpoints("secret", feed),
    ]
    document = build_openapi([*endpoints, openapi_endpoint(endpoints)])
    validate(document)
    ids = [operation["operationId"] for operation in operations(document).values()]
    assert len(ids) == len(set(ids)), sorted(ids)
    assert {("post", "/webhook/upwork-response"), ("post", "/webhook/telegram")} <= set(
        operations(document)
    )
