"""How long /healthz takes while the HTTP edge is attacked: a real `codemem serve` process (Slack over HTTP,
SQLite, the fake Slack Web API and the demo workspace) probed with /healthz on one keep-alive connection,
while a separate client process sends one kind of hostile request after another on several connections.
The baseline is /healthz with no attack, measured in the same run; ratios are of its p99.

    python bench/slack/bench_edge.py [--seconds 5] [--connections 4] [--quick]

Attacks: a body declared at 200 MB (refused by its Content-Length), a chunked body past the limit, an
unsigned 1 MB non-JSON body with a JSON type, a non-numeric timestamp, a signed 100,000-deep JSON body, a
signed /skill command of 400,000 characters (over the command cap), and a signed one at the cap (4,000
characters in one token: the longest text that is parsed).

Goal: /healthz p99 ≤ 100 ms during every attack. Figures are printed, not asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_ack import line, percentile, seed, start_server  # noqa: E402
from bot.core.skills import MAX_COMMAND_CHARS  # noqa: E402
from bot.server import MAX_BODY_BYTES  # noqa: E402
from integrations.emulator.server import EmulatorServer  # noqa: E402
from tests.fakes.slack_api import FakeSlack  # noqa: E402
from tests.slack.conftest import ALICE, CHANNEL, SECRET, TEAM, settings_for  # noqa: E402

ATTACKS = ("declared 200 MB body", "chunked body past the limit", "unsigned 1 MB non-JSON", "non-numeric timestamp",
           "signed 100,000-deep JSON", "signed 400,000-char /skill", "signed /skill at the cap")


# ------------------------------------------------------------------------------------------- the attacker

def signed_headers(body: bytes, content_type: str) -> dict[str, str]:
    stamp = str(int(time.time()))
    digest = hmac.new(SECRET.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {"Content-Type": content_type, "X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest}"}


def command(text: str) -> bytes:
    return urlencode({"team_id": TEAM, "channel_id": CHANNEL, "user_id": ALICE, "command": "/skill", "text": text,
                      "trigger_id": "1.2.3", "response_url": "https://hooks.slack.com/x"}).encode()


def request(attack: str, host: str) -> tuple[bytes, list[bytes]]:
    """The attack's request: its head (with any body sent at once) and the chunks sent after it."""
    def post(body: bytes, headers: dict[str, str]) -> bytes:
        lines = ["POST /slack/events HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}",
                 *(f"{name}: {value}" for name, value in headers.items())]
        return "\r\n".join(lines).encode() + b"\r\n\r\n" + body

    if attack == "declared 200 MB body":
        return (f"POST /slack/events HTTP/1.1\r\nHost: {host}\r\nContent-Length: {200 * 1024 * 1024}\r\n"
                "Content-Type: application/json\r\n\r\n").encode(), [b"{" * 65536]
    if attack == "chunked body past the limit":
        piece = b"x" * 65536
        return (f"POST /slack/events HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n"
                "Content-Type: application/json\r\n\r\n").encode(), \
            [b"%x\r\n%s\r\n" % (len(piece), piece)] * (2 * MAX_BODY_BYTES // len(piece))
    if attack == "unsigned 1 MB non-JSON":
        return post(b"<" * (MAX_BODY_BYTES - 1024), {"Content-Type": "application/json",
                                                     "X-Slack-Request-Timestamp": str(int(time.time())),
                                                     "X-Slack-Signature": "v0=00"}), []
    if attack == "non-numeric timestamp":
        return post(command("list"), {"Content-Type": "application/x-www-form-urlencoded",
                                      "X-Slack-Request-Timestamp": "soon", "X-Slack-Signature": "v0=00"}), []
    if attack == "signed 100,000-deep JSON":
        body = b"[" * 100_000 + b"]" * 100_000
        return post(body, signed_headers(body, "application/json")), []
    text = "run " + "a" * (400_000 if attack == "signed 400,000-char /skill" else MAX_COMMAND_CHARS - 4)
    body = command(text)
    return post(body, signed_headers(body, "application/x-www-form-urlencoded")), []


async def attack_once(address: tuple[str, int], head: bytes, chunks: list[bytes]) -> str:
    """One hostile request on a new connection; the response's status code."""
    reader, writer = await asyncio.open_connection(*address)
    try:
        writer.write(head)
        answered = asyncio.ensure_future(reader.readline())
        for chunk in chunks:
            if answered.done():
                break
            writer.write(chunk)
            try:
                await writer.drain()
            except ConnectionError:
                break
        status = await asyncio.wait_for(answered, timeout=30)
        return status.split(b" ")[1].decode() if status else "closed"
    except (ConnectionError, asyncio.TimeoutError):
        return "closed"
    finally:
        writer.close()


async def attacker(url: str, attack: str, seconds: float, connections: int) -> dict[str, int]:
    """Send the attack for `seconds` on `connections` connections at a time; the count of each answer."""
    address = urlsplit(url)
    head, chunks = request(attack, address.netloc)
    print("attacking", flush=True)   # the prober starts now
    deadline = time.monotonic() + seconds
    statuses: Counter[str] = Counter()

    async def loop() -> None:
        while time.monotonic() < deadline:
            statuses[await attack_once((address.hostname, address.port), head, chunks)] += 1

    await asyncio.gather(*(loop() for _ in range(connections)))
    return dict(statuses)


# ------------------------------------------------------------------------------------------- the prober

async def probe(url: str, until: asyncio.Future) -> list[float]:
    """Milliseconds of each /healthz, one after the other on one keep-alive connection, until `until` is done."""
    address = urlsplit(url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    request_bytes = f"GET /healthz HTTP/1.1\r\nHost: {address.netloc}\r\n\r\n".encode()
    samples = []
    try:
        while not until.done():
            started = time.perf_counter()
            writer.write(request_bytes)
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length:"))
            await reader.readexactly(length)
            samples.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(0.005)
    finally:
        writer.close()
    return samples


async def measure(url: str, attack: str | None, seconds: float, connections: int) -> tuple[list[float], dict]:
    if attack is None:
        return await probe(url, asyncio.ensure_future(asyncio.sleep(seconds))), {}
    client = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--attack", attack, "--url", url, "--seconds", str(seconds),
        "--connections", str(connections), stdout=subprocess.PIPE)
    assert await client.stdout.readline() == b"attacking\n"
    done = asyncio.ensure_future(client.stdout.readline())   # its answers, once the attack is over
    samples = await probe(url, done)
    await client.wait()
    return samples, json.loads(await done)


def main(seconds: float, connections: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, EmulatorServer() as emulator, FakeSlack(team_id=TEAM) as slack:
        settings = settings_for(Path(tmp), slack, emulator)
        asyncio.run(seed(settings))
        server, url = start_server(settings.data_dir, slack, emulator, "subprocess")
        try:
            results = {name: asyncio.run(measure(url, name, seconds, connections)) for name in (None, *ATTACKS)}
        finally:
            server.terminate()
            server.wait(timeout=30)
    baseline = results[None][0]
    print(f"/healthz latency while the HTTP edge is attacked ({seconds:g} s each, {connections} attacking "
          "connections; `codemem serve` in its own process, attacker in another; loopback, SQLite):")
    print(line("no attack (baseline)", baseline))
    for name in ATTACKS:
        samples, statuses = results[name]
        print(line(name, samples, baseline) + f"   attack answers: {statuses}")
    worst = max(percentile(results[name][0], 0.99) for name in ATTACKS)
    print(f"goal: p99 ≤ 100 ms during every attack (worst: {worst:.1f} ms)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="how long each attack lasts")
    parser.add_argument("--connections", type=int, default=4, help="attacking connections at a time")
    parser.add_argument("--quick", action="store_true", help="a short run (for the smoke test)")
    parser.add_argument("--attack", choices=ATTACKS, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.attack:
        print(json.dumps(asyncio.run(attacker(arguments.url, arguments.attack, arguments.seconds,
                                              arguments.connections))))
    elif arguments.quick:
        main(0.5, 2)
    else:
        main(arguments.seconds, arguments.connections)
