"""The HTTP API with personal tokens: runs, Idempotency-Key, 404s for what is not yours, chat's validation
messages, and a schemathesis property test against the OpenAPI document it serves."""

from __future__ import annotations

import asyncio

import hypothesis
import requests
import schemathesis
from hypothesis import HealthCheck, given
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from bot.core.views import ThreadRef
from tests.mcp_server.conftest import ALICE


async def test_a_run_started_twice_with_one_idempotency_key_runs_once(serve) -> None:
    async with serve() as served:
        async with served.api(served.tokens["UALICE"]) as api:
            key = {"Idempotency-Key": "order-42"}
            first = await api.post("/api/skills/greet/runs", json={"name": "Lena"}, headers=key)
            again = await api.post("/api/skills/greet/runs", json={"name": "Lena"}, headers=key)
            other = await api.post("/api/skills/greet/runs", json={"name": "Lena"}, headers={"Idempotency-Key": "43"})
            read = await api.get(f"/api/runs/{first.json()['run_id']}")
        history = await served.codemem.skills.command(ThreadRef("slack", "T1", "C1", ""), ALICE, "history greet")
    assert first.status_code == 201 and first.json()["result"] == {"greeting": "hello Lena"}
    assert first.json()["trigger"] == "api"
    assert again.status_code == 200 and again.json() == first.json()
    assert other.status_code == 201 and other.json()["run_id"] != first.json()["run_id"]
    assert read.json() == first.json()
    assert len(history.runs) == 2


async def test_another_users_skill_or_run_is_a_404_like_a_missing_one(serve) -> None:
    async with serve() as served:
        async with served.api(served.tokens["UBOB"]) as bob, served.api(served.tokens["UALICE"]) as alice:
            alices_run = (await alice.post("/api/skills/greet/runs", json={"name": "x"})).json()["run_id"]
            private = await alice.post("/api/skills/bobs_report/runs", json={})
            missing = await alice.post("/api/skills/nothing/runs", json={})
            peek = await bob.get(f"/api/runs/{alices_run}")
            nothing = await bob.get("/api/runs/999999")
            listed = await bob.get("/api/skills")
    assert (private.status_code, missing.status_code) == (404, 404)
    assert private.json()["error"].replace("bobs_report", "X") == missing.json()["error"].replace("nothing", "X")
    assert (peek.status_code, nothing.status_code) == (404, 404)
    assert peek.json()["error"].replace(str(alices_run), "N") == nothing.json()["error"].replace("999999", "N")
    assert [skill["name"] for skill in listed.json()["skills"]] == ["bobs_report", "team_tool"]


async def test_bad_arguments_and_bodies_say_what_is_wrong(serve) -> None:
    async with serve() as served:
        async with served.api(served.tokens["UALICE"]) as api, served.api(None) as anonymous:
            wrong = await api.post("/api/skills/greet/runs", json={"name": "x", "times": "often"})
            not_json = await api.post("/api/skills/greet/runs", content=b"name=x")
            a_list = await api.post("/api/skills/greet/runs", json=["x"])
            unauthenticated = await anonymous.post("/api/skills/greet/runs", json={"name": "x"})
            document = await anonymous.get("/api/openapi.json")
    assert wrong.status_code == 422 and wrong.json()["problems"] == ["times must be a whole number, got 'often'"]
    assert not_json.status_code == 400 and "JSON object" in not_json.json()["error"]
    assert a_list.status_code == 400
    assert unauthenticated.status_code == 401 and "resource_metadata=" in unauthenticated.headers["www-authenticate"]
    assert document.json()["paths"]["/api/skills/{name}/runs"]["post"]["operationId"] == "runSkill"


async def test_generated_requests_from_the_openapi_document_find_no_server_error(serve) -> None:
    async with serve() as served:
        async with served.api(None) as anonymous:
            document = (await anonymous.get("/api/openapi.json")).json()
        token = served.tokens["UALICE"]
        # schemathesis calls synchronously (requests): from a thread, while this loop serves the app
        await asyncio.to_thread(_property_test, document, served.url, token)


def _property_test(document: dict, url: str, token: str) -> None:
    schema = schemathesis.openapi.from_dict(document)
    session = requests.Session()
    session.trust_env = False
    checks = [not_a_server_error, status_code_conformance, response_schema_conformance]
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @hypothesis.settings(max_examples=25, deadline=None, database=None,
                             suppress_health_check=list(HealthCheck))
        def check(case) -> None:
            response = case.call(base_url=url, session=session, headers={"Authorization": f"Bearer {token}"})
            assert response.status_code < 500, (case.path, case.body, response.text)
            case.validate_response(response, checks=checks)

        check()
