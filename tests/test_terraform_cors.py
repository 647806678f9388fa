"""CORS and the page route in the real `terraform plan` of the root configuration: no preflight,
no CORS header and no CORS environment by default; with deploy.cors_allowed_origins set, an
OPTIONS mock preflight on /classify, CORS headers on API Gateway's own errors, and the origins in
the Lambda's CORS_ALLOWED_ORIGINS; an origin with a path is refused before any AWS call."""

from __future__ import annotations

import pytest

from ops.deploy.serving_stack import terraform_variables
from ops.settings import Settings
from tests import test_aws_rules as rules

# root_plan and lambda_zip: tests/terraform_plans.py (one init and one plan per distinct set of
# variables, shared with test_aws_rules.py in a session); the refused origins are planned in the
# batches of independent violations there (rules.ROOT_VIOLATIONS).
deploy_vars = rules.deploy_vars
root_refused = rules.root_refused

API = "module.api[0]"
PREFLIGHT = f"{API}.aws_api_gateway_method.preflight[0]"
ORIGINS = ["https://dogs.example.org", "http://localhost:8000"]
pytestmark = [pytest.mark.terraform, rules.needs_terraform]


def planned(root_plan, moto_server, lambda_zip, origins: list[str] | None = None) -> dict:
    """The planned resources for the default settings with deploy.cors_allowed_origins set."""
    settings = Settings()
    settings.aws.endpoint_url = moto_server
    if origins is not None:
        settings.deploy.cors_allowed_origins = origins
    return root_plan.after(terraform_variables(settings, rules.MODEL, rules.IMAGE, lambda_zip))


def test_cors_is_off_by_default_and_the_page_needs_no_key(root_plan, moto_server, lambda_zip):
    after = planned(root_plan, moto_server, lambda_zip)
    cors = [a for a in after if "preflight" in a or "gateway_response" in a]
    assert cors == []
    env = after[rules.LAMBDA_ADDR]["environment"][0]["variables"]
    assert "CORS_ALLOWED_ORIGINS" not in env
    page = after[f"{API}.aws_api_gateway_method.page[0]"]
    assert (page["http_method"], page["api_key_required"]) == ("GET", False)
    assert after[f"{API}.aws_api_gateway_integration.page[0]"]["type"] == "AWS_PROXY"
    # POST /classify keeps its API key.
    assert after[f"{API}.aws_api_gateway_method.post"]["api_key_required"] is True


def test_allowed_origins_plan_a_preflight_and_cors_headers(root_plan, moto_server, lambda_zip):
    after = planned(root_plan, moto_server, lambda_zip, ORIGINS)
    method = after[PREFLIGHT]
    assert (method["http_method"], method["authorization"], method["api_key_required"]) == (
        "OPTIONS",
        "NONE",
        False,
    )
    assert after[f"{API}.aws_api_gateway_integration.preflight[0]"]["type"] == "MOCK"
    response = after[f"{API}.aws_api_gateway_integration_response.preflight[0]"]
    params = response["response_parameters"]
    assert params["method.response.header.Access-Control-Allow-Headers"] == (
        "'content-type,x-api-key'"
    )
    assert params["method.response.header.Access-Control-Allow-Methods"] == "'POST,OPTIONS'"
    template = response["response_templates"]["application/json"]
    assert '#set($allowed = ["https://dogs.example.org", "http://localhost:8000"])' in template
    assert "responseOverride.header.Access-Control-Allow-Origin = $origin" in template
    assert "responseOverride.status = 403" in template  # an unlisted origin
    for kind in ("DEFAULT_4XX", "DEFAULT_5XX"):
        gateway = after[f'{API}.aws_api_gateway_gateway_response.cors["{kind}"]']
        header = gateway["response_parameters"][
            "gatewayresponse.header.Access-Control-Allow-Origin"
        ]
        assert header == "method.request.header.Origin"  # several origins: echo the request's
    env = after[rules.LAMBDA_ADDR]["environment"][0]["variables"]
    assert env["CORS_ALLOWED_ORIGINS"] == ",".join(ORIGINS)


def test_one_origin_is_a_fixed_header_on_gateway_errors(root_plan, moto_server, lambda_zip):
    after = planned(root_plan, moto_server, lambda_zip, ORIGINS[:1])
    gateway = after[f'{API}.aws_api_gateway_gateway_response.cors["DEFAULT_4XX"]']
    header = gateway["response_parameters"]["gatewayresponse.header.Access-Control-Allow-Origin"]
    assert header == "'https://dogs.example.org'"


@pytest.mark.parametrize("origin", ["https://dogs.example.org/", "https://x.org/page", "dogs.org"])
def test_an_origin_that_is_not_scheme_host_is_refused(
    root_refused, deploy_vars, moto_server, lambda_zip, origin
):
    settings = Settings()
    settings.aws.endpoint_url = moto_server
    settings.deploy.cors_allowed_origins = [origin]
    variables = terraform_variables(settings, rules.MODEL, rules.IMAGE, lambda_zip)
    assert variables == deploy_vars(cors_allowed_origins=[origin])  # the setting's only variable
    assert "scheme://host[:port]" in root_refused(cors_allowed_origins=[origin])
