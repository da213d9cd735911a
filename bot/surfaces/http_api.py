"""A small HTTP API over the same personal tokens, for scripts and webhooks (n8n, Zapier, cron + curl):
`GET /api/skills`, `POST /api/skills/NAME/runs` (JSON arguments; an `Idempotency-Key` header makes a repeat
return the first run instead of running again), `GET /api/runs/ID`, and `GET /api/openapi.json`.

A run is the same as `/skill run` (recorded with trigger `api`, no model) and answers when it ends. Another
user's skill or run is a 404, exactly like a missing one; bad arguments are a 422 with chat's messages.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route, Router

from bot.core.skill_tools import NoSuchSkill, SkillTools, run_record
from bot.surfaces.token_auth import ResourceServer, caller_of
from skills_db.errors import RunNotFound
from skills_db.models import Owner, RunTrigger
from skills_db.params import ArgumentError
from skills_db.personal_tokens import PersonalTokens

MAX_BODY = 256_000
MAX_KEY = 200


def api_routes(skill_tools: SkillTools, tokens: PersonalTokens, auth: ResourceServer) -> list[BaseRoute]:
    """`/api/openapi.json` (public) and the token-protected `/api/…` routes."""

    async def list_skills(request: Request) -> Response:
        tools = await skill_tools.list(_user(request))
        return JSONResponse({"skills": [{"name": t.name, "description": t.description, "version": t.version,
                                         "parameters": t.input_schema, "read_only": t.read_only,
                                         "destructive": t.destructive} for t in tools]})

    async def start_run(request: Request) -> Response:
        user = _user(request)
        name = request.path_params["name"]
        arguments = await _arguments(request)
        if isinstance(arguments, Response):
            return arguments
        key = request.headers.get("idempotency-key")
        if key is not None and not 0 < len(key) <= MAX_KEY:
            return _problem(400, f"the Idempotency-Key header must be 1-{MAX_KEY} characters")
        try:
            prepared = await skill_tools.prepare(user, name, arguments, RunTrigger.API.value)
        except NoSuchSkill:
            return _not_found(f"you have no skill named '{name}' that you can run")
        except ArgumentError as error:
            return JSONResponse({"error": str(error), "problems": error.problems}, status_code=422)
        if key is not None:
            first, run_id = await asyncio.to_thread(tokens.claim_key, user, key)
            if not first:
                return await _repeat(skill_tools, user, key, run_id)
        try:
            outcome = await skill_tools.run(prepared)
        except BaseException:
            if key is not None:
                await asyncio.to_thread(tokens.settle_key, user, key, None)   # it never ran: the key is free again
            raise
        if key is not None:
            await asyncio.to_thread(tokens.settle_key, user, key, outcome.run.id)
        return JSONResponse(run_record(prepared.skill.name, outcome.run), status_code=201)

    async def get_run(request: Request) -> Response:
        try:
            run, name = await skill_tools.get_run(_user(request), int(request.path_params["run_id"]))
        except RunNotFound:
            return _not_found(f"you have no run with id {request.path_params['run_id']}")
        return JSONResponse(run_record(name, run))

    async def openapi(request: Request) -> Response:
        return JSONResponse(openapi_document(auth.public_url))

    protected = auth.protect(Router(routes=[
        Route("/skills", list_skills, methods=["GET"]),
        Route("/skills/{name}/runs", start_run, methods=["POST"]),
        Route("/runs/{run_id:int}", get_run, methods=["GET"]),
    ]))
    return [Route("/api/openapi.json", openapi, methods=["GET"]), Mount("/api", app=protected)]


async def _repeat(skill_tools: SkillTools, user: Owner, key: str, run_id: int | None) -> Response:
    """The answer to a repeated Idempotency-Key: the first call's run (its last attempt), never a new one."""
    if run_id is None:
        return _problem(409, f"a run with Idempotency-Key {key!r} is still starting; ask again in a moment")
    run, name = await skill_tools.get_run(user, run_id)
    return JSONResponse(run_record(name, run), status_code=200)


async def _arguments(request: Request) -> dict[str, Any] | Response:
    body = await request.body()
    if len(body) > MAX_BODY:
        return _problem(413, f"the request body is over {MAX_BODY} bytes; arguments are small JSON values")
    if not body.strip():
        return {}
    try:
        arguments = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _problem(400, "the body must be a JSON object of arguments, like {\"days_back\": 7}")
    if not isinstance(arguments, dict):
        return _problem(400, "the body must be a JSON object of arguments, like {\"days_back\": 7}")
    return arguments


def _user(request: Request) -> Owner:
    user = caller_of(request.scope)
    assert user is not None, "api routes are only reachable behind ResourceServer.protect"
    return user


def _problem(status: int, text: str) -> JSONResponse:
    return JSONResponse({"error": text}, status_code=status)


def _not_found(text: str) -> JSONResponse:
    return _problem(404, text + "; GET /api/skills lists yours")


_RUN = {
    "type": "object",
    "required": ["run_id", "skill", "version", "status"],
    "properties": {
        "run_id": {"type": "integer"}, "skill": {"type": "string"}, "version": {"type": "integer"},
        "status": {"type": "string", "enum": ["running", "succeeded", "failed"]}, "result": {},
        "error": {"type": ["string", "null"]}, "logs": {"type": "string"}, "trigger": {"type": "string"},
        "started_at": {"type": "string", "format": "date-time"}, "duration_ms": {"type": ["number", "null"]},
    },
}
_ERROR = {"type": "object", "required": ["error"],
          "properties": {"error": {"type": "string"}, "problems": {"type": "array", "items": {"type": "string"}}}}


def openapi_document(public_url: str) -> dict[str, Any]:
    """The OpenAPI 3.1 description of the API."""
    def answer(description: str, schema: dict[str, Any] = _ERROR) -> dict[str, Any]:
        return {"description": description, "content": {"application/json": {"schema": schema}}}

    unauthorized = answer("No valid personal token (the WWW-Authenticate header points at the resource metadata).")
    return {
        "openapi": "3.1.0",
        "info": {"title": "CodeMem skills", "version": "1",
                 "description": "Run your saved CodeMem skills. Authenticate with a personal token from "
                                "`/skill mcp-token`: `Authorization: Bearer <token>`."},
        "servers": [{"url": public_url.rstrip("/")}],
        "components": {"securitySchemes": {"personalToken": {"type": "http", "scheme": "bearer"}},
                       "schemas": {"Run": _RUN, "Error": _ERROR}},
        "security": [{"personalToken": []}],
        "paths": {
            "/api/skills": {"get": {
                "operationId": "listSkills", "summary": "The skills you may run, with their parameters",
                "responses": {"200": answer("Your skills", {"type": "object", "required": ["skills"],
                                                            "properties": {"skills": {"type": "array"}}}),
                              "401": unauthorized}}},
            "/api/skills/{name}/runs": {"post": {
                "operationId": "runSkill", "summary": "Run a skill and wait for the result",
                "parameters": [
                    {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}},
                    {"name": "Idempotency-Key", "in": "header", "required": False,
                     "description": "A repeat with the same key returns the first run instead of running again.",
                     "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY}},
                ],
                "requestBody": {"required": False, "content": {"application/json": {"schema": {
                    "type": "object", "description": "The skill's arguments by parameter name"}}}},
                "responses": {"201": answer("The run, finished", _RUN),
                              "200": answer("The first run with this Idempotency-Key", _RUN),
                              "400": answer("The body or a header is malformed"),
                              "401": unauthorized,
                              "404": answer("You have no skill of that name to run"),
                              "409": answer("The first run with this Idempotency-Key is still starting"),
                              "413": answer("The body is too large"),
                              "422": answer("The arguments do not fit the skill's parameters")}}},
            "/api/runs/{run_id}": {"get": {
                "operationId": "getRun", "summary": "One of your runs",
                "parameters": [{"name": "run_id", "in": "path", "required": True, "schema": {"type": "integer"}}],
                "responses": {"200": answer("The run", _RUN), "401": unauthorized,
                              "404": answer("You have no run with that id")}}},
        },
    }
