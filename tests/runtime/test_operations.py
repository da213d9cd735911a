"""Operations without PostgreSQL workers: readiness, metrics, the embedded engine's dedupe, `codemem doctor`."""

from __future__ import annotations

import httpx

from bot.runtime.doctor import diagnose
from bot.runtime.jobs import InProcessJobs
from bot.server import http_app
from bot.settings import Settings
from bot.surfaces.teams_settings import TeamsSettings


async def get(app, path: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bot") as client:
        return await client.get(path)


async def test_readyz_says_what_is_wrong_and_metrics_count_jobs() -> None:
    problems: list[str] = ["database unreachable: OperationalError"]

    async def found() -> list[str]:
        return problems

    app = http_app([], found)
    assert (await get(app, "/healthz")).status_code == 200
    answer = await get(app, "/readyz")
    assert answer.status_code == 503 and answer.json()["problems"] == problems
    problems.clear()
    assert (await get(app, "/readyz")).status_code == 200

    jobs = InProcessJobs()
    ran: list[int] = []

    async def handler(payload: dict) -> None:
        ran.append(payload["n"])

    jobs.handle("test_job", handler)
    assert await jobs.submit("test_job", {"n": 1}, key="k", dedupe="once") is True
    assert await jobs.submit("test_job", {"n": 2}, key="k", dedupe="once") is False
    await jobs.drain()
    assert ran == [1]
    metrics = (await get(app, "/metrics")).text
    assert 'codemem_jobs_total{kind="test_job",outcome="done"} 1.0' in metrics
    assert 'codemem_jobs_total{kind="test_job",outcome="duplicate"} 1.0' in metrics


async def test_doctor_says_what_to_fix(tmp_path) -> None:
    settings = Settings(jobs="procrastinate", data_dir=tmp_path, sandbox="subprocess")
    findings = {f.area: f for f in await diagnose(settings, TeamsSettings())}
    assert not findings["jobs"].ok and "CODEMEM_DATABASE_URL=postgresql" in findings["jobs"].message
    assert not findings["chat"].ok and "SLACK_BOT_TOKEN" in findings["chat"].message
    assert findings["database"].ok
    assert "isolation" in findings["sandbox"].message
