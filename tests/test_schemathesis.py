"""schemathesis against /api/v1/openapi.json through the WSGI app: no 5xx, every response as documented."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import ignored_auth, missing_required_header

from bot import create_app
from bot.web import openapi_document

from .conftest import make_config

EXAMPLES = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.filter_too_much])


@pytest.fixture
def api_app(tmp_path):
    app = create_app(make_config(tmp_path))
    yield app
    app.extensions["waymark"].store.close()


def test_the_served_document_is_the_one_tested(api_app):
    assert api_app.test_client().get("/api/v1/openapi.json").get_json() == openapi_document()


# The document is built from constants, so the schema loads at import; each test gets its own app and database.
schema = schemathesis.openapi.from_dict(openapi_document())


@schema.parametrize()
@EXAMPLES
def test_api_as_generated(case, api_app):
    """Whatever schemathesis sends (without a valid token, mostly), the answer is documented and never a 5xx."""
    case.call_and_validate(app=api_app)


@schema.parametrize()
@EXAMPLES
def test_api_with_a_real_conversation(case, api_app):
    """The same, with a live conversation's id and token put in, so bodies reach the engine."""
    if "id" in (case.path_parameters or {}):
        started = api_app.test_client().post("/api/v1/conversations").get_json()
        case.path_parameters["id"] = started["id"]
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {started['token']}"}
    # The token is real here, so the checks that expect generated or missing auth to be refused do not apply;
    # test_api_as_generated runs them.
    case.call_and_validate(app=api_app, excluded_checks=[ignored_auth, missing_required_header])
