"""Security checks in the suite: bandit finds nothing of high severity, and every route sends the safety headers.

The Twilio signature is always required on /sms: tests/test_sms.py
(test_missing_or_wrong_signature_is_refused_and_changes_nothing,
test_a_signature_for_other_fields_or_another_url_is_refused, test_behind_a_proxy_the_public_url_is_what_is_signed)
and tests/test_sms_gunicorn.py under gunicorn.
The staff console's protections (lockout, TOTP, CSRF, idle timeout, roles) are in tests/test_staff.py.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bot import create_app

from .test_handoff import Worker, handoff_config

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = {"cid": "A" * 32, "hid": "0" * 32, "filename": "web/nothing-here.js", "path": "nothing"}


def test_bandit_finds_nothing_of_high_severity():
    result = subprocess.run([sys.executable, "-m", "bandit", "-q", "-r", "bot", "flows", "safety", "-f", "json"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.stdout.strip(), f"bandit did not run (pip install -e '.[test]'): {result.stderr[-2000:]}"
    report = json.loads(result.stdout)
    assert not report["errors"], report["errors"]
    high = [f"{r['filename']}:{r['line_number']} {r['test_id']} {r['issue_text']}"
            for r in report["results"] if r["issue_severity"] == "HIGH"]
    assert not high, "\n".join(high)


@pytest.fixture
def sapp(tmp_path):
    app = create_app(handoff_config(tmp_path))
    yield app
    app.extensions["waymark"].store.close()


def requests_for(app) -> list[tuple[str, str]]:
    """Every (method, URL) the app routes, its variables filled with harmless samples."""
    out = []
    for rule in app.url_map.iter_rules():
        url = rule.rule
        for name in rule.arguments:
            url = re.sub(rf"<(?:[^:<>]+:)?{name}>", SAMPLE.get(name, "x"), url)
        for method in sorted(rule.methods - {"HEAD"}):
            out.append((method, url))
    return out


def assert_safety_headers(response, where: str) -> None:
    headers = response.headers
    assert headers.get("X-Content-Type-Options") == "nosniff", where
    assert headers.get("Referrer-Policy") == "no-referrer", where
    csp = headers.get("Content-Security-Policy", "")
    directives = {d.strip().split(" ", 1)[0]: d.strip() for d in csp.split(";") if d.strip()}
    assert directives.get("object-src") == "object-src 'none'", (where, csp)
    assert directives.get("base-uri") == "base-uri 'none'", (where, csp)


def test_every_route_sends_the_safety_headers_logged_out_and_logged_in(sapp):
    routes = requests_for(sapp)
    assert any(url.startswith("/staff/") for _, url in routes) and any(url == "/sms" for _, url in routes)
    worker = Worker(sapp)
    assert worker.login().status_code == 302
    clients = {"anonymous": sapp.test_client(), "staff": worker.client}
    for who, client in clients.items():
        for method, url in routes:
            data = {"csrf": worker.csrf} if who == "staff" and method == "POST" else None
            response = client.open(url, method=method, data=data)
            assert response.status_code < 500, (who, method, url, response.status_code)
            assert_safety_headers(response, f"{who} {method} {url} -> {response.status_code}")
    for method, url in (("GET", "/no/such/page"), ("PUT", "/sms"), ("POST", "/api/v1/openapi.json")):
        assert_safety_headers(sapp.test_client().open(url, method=method), f"{method} {url}")


def test_a_failure_inside_a_view_still_sends_the_safety_headers(sapp):
    sapp.view_functions["core.healthz"] = lambda: 1 / 0
    sapp.config["PROPAGATE_EXCEPTIONS"] = False
    response = sapp.test_client().get("/healthz")
    assert response.status_code == 500
    assert_safety_headers(response, "GET /healthz (failing)")
