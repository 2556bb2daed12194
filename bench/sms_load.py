"""Load the SMS webhook under gunicorn and compare it with a bare Flask endpoint that returns fixed TwiML.

Run: python bench/sms_load.py [--seconds S] [--rounds R] [--connections C] [--conversations N]
Both servers run under gunicorn with the Procfile's worker settings on 127.0.0.1 and get the same
signed requests from C concurrent connections (many conversations, each walking the menus), in R
alternating rounds of S/R seconds each, so a busy machine weighs on both alike. The last line is:
  sms_load bot_rps=B bare_rps=A ratio=R p50_ms=X p99_ms=Y
Targets: ratio >= 0.6 and p99 <= 50 ms at 32 concurrent connections.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import aiohttp
from flask import Flask, Response
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-twilio-auth-token"
# What a person might send, in order, again and again: menus, words, a command, nonsense, and a fresh start.
SCRIPT = ["hello", "1", "1", "2", "menu", "3", "back", "not sure", "menu", "2", "1", "talk", "menu", "exit"]
SIDS = itertools.count(1)  # one run never repeats a MessageSid: a repeat is a retry, answered from the kept reply
FIXED = '<?xml version="1.0" encoding="UTF-8"?><Response><Message>Hello.</Message></Response>'


def bare_app() -> Flask:
    """Answer every POST /sms with fixed TwiML and do nothing else: the ceiling for the same server settings."""
    app = Flask(__name__)

    @app.post("/sms")
    def sms():
        return Response(FIXED, mimetype="text/xml")

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    return app


def procfile_options() -> list[str]:
    """Return the Procfile's gunicorn options, without its bind and app."""
    words = shlex.split((ROOT / "Procfile").read_text().split("web:", 1)[1].strip())
    out, skip = [], False
    for word in words[1:]:
        if skip:
            skip = False
        elif word in ("--bind", "-b"):
            skip = True
        elif not word.startswith("bot:"):
            out.append(str(ROOT / word) if word.endswith(".conf.py") else word)  # servers start elsewhere
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(app: str, env: dict, cwd: Path) -> tuple[subprocess.Popen, str]:
    """Start gunicorn on a free 127.0.0.1 port and wait until it answers."""
    port = free_port()
    cmd = [sys.executable, "-m", "gunicorn", *procfile_options(), "--bind", f"127.0.0.1:{port}", app]
    log = open(cwd / f"{app.split(':')[0]}.log", "wb")  # a file, not a pipe: a full pipe would stall the workers
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(base + "/healthz", timeout=1)
            return proc, base
        except OSError:
            if proc.poll() is not None:
                raise SystemExit(f"{app} did not start:\n{Path(log.name).read_text()}")
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"{app} did not answer in time")


async def drive(base: str, seconds: float, connections: int, conversations: int) -> tuple[int, list[float], int]:
    """Send signed texts from `connections` workers for `seconds`; return (requests, latencies in ms, errors)."""
    url = base + "/sms"
    validator = RequestValidator(TOKEN)
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def worker(n: int, session: aiohttp.ClientSession) -> None:
        nonlocal errors
        mine = [f"+4477009{n:02d}{c:03d}" for c in range(n, conversations, connections)]
        step = 0
        while time.perf_counter() < deadline:
            sender = mine[step % len(mine)]
            body = SCRIPT[(step // len(mine)) % len(SCRIPT)]
            step += 1
            params = {"MessageSid": f"SM{next(SIDS):032x}", "AccountSid": "AC" + "0" * 32, "From": sender,
                      "To": "+447700900000", "Body": body, "NumMedia": "0"}
            headers = {"X-Twilio-Signature": validator.compute_signature(url, params)}
            t0 = time.perf_counter()
            async with session.post(url, data=params, headers=headers) as response:
                await response.read()
                if response.status != 200:
                    errors += 1
            latencies.append((time.perf_counter() - t0) * 1000)

    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(worker(n, session) for n in range(connections)))
    return len(latencies), latencies, errors


def summary(name: str, count: int, latencies: list[float], errors: int, seconds: float) -> tuple[float, float, float]:
    rps = count / seconds
    p50, p99 = statistics.median(latencies), statistics.quantiles(latencies, n=100)[98]
    print(f"{name}: requests={count} errors={errors} rps={rps:.0f} p50_ms={p50:.1f} p99_ms={p99:.1f}", flush=True)
    if errors:
        raise SystemExit(f"{name}: {errors} requests did not get 200")
    return rps, p50, p99


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="measured seconds per server (after a warm-up)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds the seconds are split into")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--conversations", type=int, default=512)
    parser.add_argument("--app", default="bot:create_app()", help="what gunicorn loads as the bot (to try a variant)")
    parser.add_argument("--flows", default=None, help="another flow library (default: the shipped one)")
    parser.add_argument("--locales", default=None, help="other catalogs (default: the shipped ones)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "TWILIO_AUTH_TOKEN": TOKEN, "WAYMARK_SECRET_KEY": "bench-secret",
               "WAYMARK_DATABASE": str(Path(tmp) / "waymark.db"),
               # the limiter still runs on every message; the bench just never trips it
               "WAYMARK_SMS_RATE_PER_CONVERSATION": "1000000", "WAYMARK_SMS_RATE_OVERALL": "1000000",
               "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "bench"), str(ROOT), os.environ.get("PYTHONPATH")]))}
        if args.flows:
            env["WAYMARK_FLOWS_DIR"] = str(Path(args.flows).resolve())
        if args.locales:
            env["WAYMARK_LOCALES_DIR"] = str(Path(args.locales).resolve())
        print(f"gunicorn {' '.join(procfile_options())}; {args.connections} connections, "
              f"{args.conversations} conversations, {args.seconds:.0f} s each in {args.rounds} rounds", flush=True)
        servers = {name: start(app, env, Path(tmp)) for name, app in
                   (("bare", "sms_load:bare_app()"), ("bot", args.app))}
        totals = {name: [0, [], 0] for name in servers}
        try:
            for name, (_, base) in servers.items():  # warm up
                asyncio.run(drive(base, 2.0, args.connections, args.conversations))
            for _ in range(args.rounds):
                for name, (_, base) in servers.items():
                    count, latencies, errors = asyncio.run(
                        drive(base, args.seconds / args.rounds, args.connections, args.conversations))
                    totals[name][0] += count
                    totals[name][1] += latencies
                    totals[name][2] += errors
        finally:
            for proc, _ in servers.values():
                proc.terminate()
                proc.wait(timeout=10)
    results = {name: summary(name, *totals[name], args.seconds) for name in servers}
    (bot_rps, p50, p99), (bare_rps, _, _) = results["bot"], results["bare"]
    print(f"sms_load bot_rps={bot_rps:.0f} bare_rps={bare_rps:.0f} ratio={bot_rps / bare_rps:.2f} "
          f"p50_ms={p50:.1f} p99_ms={p99:.1f}")


if __name__ == "__main__":
    main()
