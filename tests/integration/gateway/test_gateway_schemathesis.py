"""Schemathesis against the committed OpenAPI spec: generated requests, valid and not, to a
live gateway on the secured broker; every answer must be what the spec says it can be."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from mash_hub.services.gateway.__main__ import SPEC_PATH
from tests.integration.gateway.conftest import RunningGateway

pytestmark = pytest.mark.integration

schema = schemathesis.openapi.from_path(str(SPEC_PATH))


@schema.exclude(path="/v1/outcomes/stream").parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_gateway_answers_as_its_spec_says(case: schemathesis.Case, gateway: RunningGateway) -> None:
    case.call_and_validate(base_url=gateway.url, headers={"X-API-Key": gateway.keys["school-portal"]})
