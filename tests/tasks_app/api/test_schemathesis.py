"""Property-based run of the served OpenAPI schema against a live server (schemathesis): no 5xx, and every
response's status code, content type and body agree with the schema. Each operation gets valid input (with
the ids of seeded objects where the path has ids, plus a few random ids) and malformed input. Bounded: a fixed
number of examples per pass (about 850 requests in all), derandomized (the same cases every run), no shrinking."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import hypothesis
import hypothesis.errors
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tasks_app import services
from tasks_app.models import ApiKey, Membership, Task
from tasks_app.services.credentials import save_profile_state
from tasks_app.services.scripts import save_script
from tests.factories import OrganizationFactory, TaskFactory
from tests.tasks_app.api.conftest import task_with_run
from tests.tasks_app.recorded import DOCUMENT

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
POSITIVE, NEGATIVE = GenerationMode.POSITIVE, GenerationMode.NEGATIVE


def fuzz(operation: Any, *, mode: GenerationMode, examples: int, call: dict[str, Any], statuses: Counter[int],
         path_parameters: dict[str, Any] | None = None) -> list[str]:
    """Run `examples` generated cases of one operation; the first failure (if any) is returned, not raised."""
    failures: list[str] = []
    options: dict[str, Any] = {"path_parameters": path_parameters} if path_parameters else {}

    @hypothesis.settings(
        max_examples=examples, deadline=None, derandomize=True, database=None,
        phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck),
    )
    @hypothesis.given(case=operation.as_strategy(mode, **options))
    def run(case: schemathesis.Case) -> None:
        if failures:
            return
        try:
            response = case.call_and_validate(checks=CHECKS, **call)
        except (AssertionError, BaseExceptionGroup) as exc:
            failures.append(f"{operation.label} ({mode.value}): {exc}\n  reproduce: {case.as_curl_command()}")
            return
        statuses[response.status_code] += 1

    try:
        run()
    except hypothesis.errors.Unsatisfiable:  # negative mode, and nothing in the operation to make invalid
        assert mode is NEGATIVE, operation.label
    return failures


@pytest.mark.timeout(300)  # ~15-35 s on a quiet machine; room for a loaded CI box
def test_api_conforms_to_its_schema(fast_live_server, settings, request):
    settings.LOOKOUT_RUNNER = "inprocess"  # created tasks stay queued
    settings.LOOKOUT_API_RATE = None
    org = OrganizationFactory(slug="fuzz", max_steps_per_run=50)
    key, raw = services.create_api_key(organization=org, name="fuzzer", role=Membership.Role.ADMIN)
    ApiKey.objects.filter(pk=key.pk).update(id=7_654_321)  # out of reach of the ids the fuzzer revokes
    spare, _ = services.create_api_key(organization=org, name="spare")  # the one the fuzzer may revoke
    run = task_with_run(org, extracted_information={"price": "9.99"})
    save_script(task_id=run.pk, document=DOCUMENT, healed_steps=[], reason="recorded")  # its /script/ answers 200
    for status in (Task.Status.QUEUED, Task.Status.RUNNING, Task.Status.PAUSED, Task.Status.AWAITING_APPROVAL):
        TaskFactory(organization=org, status=status)
    credential = services.create_credential(organization=org, by=key, name="portal", password="pw-pw-pw",
                                            totp_secret="JBSWY3DPEHPK3PXP", sites=["portal.example"])
    profile = save_profile_state(organization=org, name="portal", state={"cookies": [], "origins": []}).profile
    seeded = {"task_id": str(run.pk), "run_id": str(run.pk), "artifact_id": run.artifacts.first().pk,
              "key_id": spare.pk, "credential_id": credential.pk, "profile_id": profile.pk}

    session = requests.Session()
    request.addfinalizer(session.close)  # no keep-alive connection may outlive the test database
    # headers= replaces any x-api-key schemathesis generates from the security scheme
    call = {"base_url": fast_live_server.url, "session": session, "headers": {"x-api-key": raw}}
    schema = schemathesis.openapi.from_url(f"{fast_live_server.url}/api/v1/schema/?format=json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 36

    started = time.monotonic()
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    for operation in operations:
        ids = {p.name: seeded[p.name] for p in operation.path_parameters} or None
        failures += fuzz(operation, mode=POSITIVE, examples=20, call=call, statuses=statuses, path_parameters=ids)
        if ids:  # random ids: 404s (and nothing else) from the same code
            failures += fuzz(operation, mode=POSITIVE, examples=5, call=call, statuses=statuses)
        # malformed input (wrong types, missing fields, out-of-range values) must be a documented 4xx
        failures += fuzz(operation, mode=NEGATIVE, examples=10, call=call, statuses=statuses, path_parameters=ids)
    elapsed = time.monotonic() - started
    print(f"schemathesis: {sum(statuses.values())} requests in {elapsed:.1f} s, statuses {dict(statuses)}")
    assert not failures, "\n\n".join(failures)
    assert statuses[200] and statuses[201] and statuses[404] and statuses[409], statuses  # reached real code paths
