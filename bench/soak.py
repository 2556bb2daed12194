"""Soak the app under gunicorn: many web-chat and SMS conversations of many turns, watching errors and memory.

Run: python bench/soak.py [--seconds S] [--warmup W] [--connections C] [--conversations N]
The app runs under gunicorn with the Procfile's settings on 127.0.0.1 only, on a temporary database.
C concurrent connections (half web chat through /api/v1, half signed texts to /sms) walk conversations
of many turns (choices, free words, commands, language switches, receive calls, quick exits, EXIT)
for W seconds of warm-up and then S measured seconds, while the workers' resident memory is sampled
(psutil when installed, else /proc/<pid>/status). The last line is:
  soak seconds=S requests=N errors=E rps=R rss_start_mb=A rss_end_mb=B growth_mb=G
where rss_start is the workers' total after the warm-up, and errors counts every answer that was not
the documented success (and every traceback in the server's log). Target: errors=0, growth_mb near 0.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from twilio.request_validator import RequestValidator

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sms_load import ROOT, SCRIPT, TOKEN, procfile_options, start  # noqa: E402  (the same server and signing)

# Free words a person might type on the web, besides the choices on offer.
WORDS = ["hello", "not sure", "I feel scared at home", "help", "back", "menu", "what can I do", "thanks",
         "my partner checks my phone", "asdfgh", "2", "9"]


class Tally:
    def __init__(self):
        self.requests = self.errors = 0
        self.problems: dict[str, int] = {}

    def count(self, ok: bool, what: str) -> None:
        self.requests += 1
        if not ok:
            self.errors += 1
            self.problems[what] = self.problems.get(what, 0) + 1


def workers(master: int) -> list[int]:
    """Return the gunicorn master's child processes (its workers)."""
    try:
        import psutil

        return [p.pid for p in psutil.Process(master).children()]
    except ImportError:
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == master:
                    found.append(int(entry.name))
        return sorted(found)


def rss_mb(pids: list[int]) -> float:
    """Return the total resident memory of `pids` in MB."""
    total = 0.0
    for pid in pids:
        try:
            import psutil

            total += psutil.Process(pid).memory_info().rss / 2**20
        except ImportError:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
    return total


async def web_conversation(session: aiohttp.ClientSession, base: str, rng: random.Random, turns: int,
                           tally: Tally) -> None:
    """Start a web chat, take `turns` turns (choices, words, a language switch, a receive call), then leave."""
    api = base + "/api/v1/conversations"
    async with session.post(api, json={}) as response:
        data = await response.json(content_type=None)
        tally.count(response.status == 201 and bool(data.get("messages")), "web start")
        if response.status != 201:
            return
    cid, auth = data["id"], {"Authorization": f"Bearer {data['token']}"}
    options = data["options"]
    for _ in range(turns):
        roll = rng.random()
        if roll < 0.05:
            async with session.get(f"{api}/{cid}/updates?wait=0", headers=auth) as response:
                body = await response.json(content_type=None)
                tally.count(response.status == 200 and "messages" in body, "web updates")
            continue
        if roll < 0.08:
            body = {"lang": "en"}
        elif options and roll < 0.75:
            body = {"option": rng.choice(options)["id"]}
        else:
            body = {"text": rng.choice(WORDS)}
        async with session.post(f"{api}/{cid}/messages", json=body, headers=auth) as response:
            reply = await response.json(content_type=None)
            tally.count(response.status == 200 and bool(reply.get("messages")), "web message")
            if response.status != 200:
                return
        options = reply["options"]
    how = rng.random()
    if how < 0.4:  # quick exit
        async with session.delete(f"{api}/{cid}", headers=auth) as response:
            await response.read()
            tally.count(response.status == 204, "web delete")
    elif how < 0.7:  # typed EXIT
        async with session.post(f"{api}/{cid}/messages", json={"text": "exit"}, headers=auth) as response:
            reply = await response.json(content_type=None)
            tally.count(response.status == 200 and reply.get("ended") is True, "web exit")
    # else: walked away; the conversation idles out


async def drive(base: str, seconds: float, connections: int, conversations: int, tally: Tally, seed: int) -> None:
    """Run half the connections as web chats and half as SMS senders until `seconds` are up."""
    deadline = time.perf_counter() + seconds
    validator = RequestValidator(TOKEN)
    url = base + "/sms"
    sids = iter(range(seed * 10**9, (seed + 1) * 10**9))

    async def web_worker(n: int, session: aiohttp.ClientSession) -> None:
        rng = random.Random(seed * 1000 + n)
        while time.perf_counter() < deadline:
            try:
                await web_conversation(session, base, rng, rng.randint(5, 30), tally)
            except (aiohttp.ClientError, ValueError, asyncio.TimeoutError):
                tally.count(False, "web transport")

    async def sms_worker(n: int, session: aiohttp.ClientSession) -> None:
        mine = [f"+4477009{n:02d}{c:03d}" for c in range(n, conversations, connections)] or [f"+4477009{n:02d}999"]
        step = 0
        while time.perf_counter() < deadline:
            sender, body = mine[step % len(mine)], SCRIPT[(step // len(mine)) % len(SCRIPT)]
            step += 1
            params = {"MessageSid": f"SM{next(sids):032x}", "AccountSid": "AC" + "0" * 32, "From": sender,
                      "To": "+447700900000", "Body": body, "NumMedia": "0"}
            headers = {"X-Twilio-Signature": validator.compute_signature(url, params)}
            try:
                async with session.post(url, data=params, headers=headers) as response:
                    text = await response.text()
                    tally.count(response.status == 200 and "<Response" in text, "sms")
            except (aiohttp.ClientError, asyncio.TimeoutError):
                tally.count(False, "sms transport")

    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections), timeout=timeout) as session:
        half = max(1, connections // 2)
        await asyncio.gather(*(web_worker(n, session) for n in range(half)),
                             *(sms_worker(n, session) for n in range(connections - half)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300.0, help="measured seconds, after the warm-up")
    parser.add_argument("--warmup", type=float, default=30.0, help="seconds of load before memory is first taken")
    parser.add_argument("--sample", type=float, default=10.0, help="seconds between memory samples")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--conversations", type=int, default=512, help="SMS senders")
    parser.add_argument("--app", default="bot:create_app()", help="what gunicorn loads")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "TWILIO_AUTH_TOKEN": TOKEN, "WAYMARK_SECRET_KEY": "soak-secret",
               "WAYMARK_DATABASE": str(Path(tmp) / "waymark.db"),
               # every request comes from 127.0.0.1: the limiters still run on every call but never trip
               "WAYMARK_SMS_RATE_PER_CONVERSATION": "1000000", "WAYMARK_SMS_RATE_OVERALL": "1000000",
               "WAYMARK_WEB_RATE_PER_CONVERSATION": "1000000", "WAYMARK_WEB_RATE_PER_CLIENT": "1000000",
               "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        print(f"gunicorn {' '.join(procfile_options())}; {args.connections} connections (half web, half SMS); "
              f"warm-up {args.warmup:.0f} s, then {args.seconds:.0f} s", flush=True)
        proc, base = start(args.app, env, Path(tmp))
        try:
            warm = Tally()
            asyncio.run(drive(base, args.warmup, args.connections, args.conversations, warm, seed=0))
            pids = workers(proc.pid)
            rss_start = rss_mb(pids)
            print(f"warm-up: requests={warm.requests} errors={warm.errors} workers={len(pids)} "
                  f"rss_mb={rss_start:.1f}", flush=True)
            tally, samples = Tally(), []

            async def sampler(began: float) -> None:
                while time.perf_counter() - began < args.seconds:
                    await asyncio.sleep(min(args.sample, max(0.0, args.seconds - (time.perf_counter() - began))))
                    samples.append(rss_mb(pids))
                    print(f"  t={time.perf_counter() - began:5.0f}s requests={tally.requests} "
                          f"errors={tally.errors} rss_mb={samples[-1]:.1f}", flush=True)

            async def measured() -> None:
                began = time.perf_counter()
                await asyncio.gather(drive(base, args.seconds, args.connections, args.conversations, tally, seed=1),
                                     sampler(began))

            t0 = time.perf_counter()
            asyncio.run(measured())
            elapsed = time.perf_counter() - t0
            rss_end = rss_mb(pids)
            restarted = set(workers(proc.pid)) != set(pids)
        finally:
            proc.terminate()
            proc.wait(timeout=15)
        logged = (Path(tmp) / "bot.log").read_text(errors="replace").count("Traceback")
    errors = warm.errors + tally.errors + logged
    problems = {k: warm.problems.get(k, 0) + tally.problems.get(k, 0) for k in {*warm.problems, *tally.problems}}
    if samples:  # where the memory settled: caches (SQLite's page cache per thread) fill early, then stay
        print(f"rss samples: first={samples[0]:.1f} min={min(samples):.1f} max={max(samples):.1f} "
              f"last={samples[-1]:.1f} growth_after_first_sample_mb={samples[-1] - samples[0]:.1f}", flush=True)
    if problems or logged or restarted:
        print(f"problems: {problems} tracebacks_logged={logged} workers_restarted={restarted}", flush=True)
    print(f"soak seconds={elapsed:.0f} requests={tally.requests} errors={errors} rps={tally.requests / elapsed:.0f} "
          f"rss_start_mb={rss_start:.1f} rss_end_mb={rss_end:.1f} growth_mb={rss_end - rss_start:.1f}")
    if errors:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
