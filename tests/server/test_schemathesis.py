"""schemathesis against the running server's /openapi.json: generated requests (valid and not)
for every operation, each with a token of a role the route admits; no response is a 5xx.

Examples are bounded per operation so the test stays short on two cores."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .notes import note
from .support import Server, Store
from .test_authz import MATRIX

EXAMPLES = 16


def _fuzz(operation: Any, url: str, auth: dict[str, str], failures: list[str]) -> int:
    """Run up to EXAMPLES generated cases of one operation; the number of calls made."""
    import schemathesis
    from schemathesis.checks import not_a_server_error

    calls = 0
    cases = st.one_of(operation.as_strategy(schemathesis.GenerationMode.POSITIVE),
                      operation.as_strategy(schemathesis.GenerationMode.NEGATIVE))

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=cases)
    def run(case: Any) -> None:
        nonlocal calls
        calls += 1
        response = case.call(base_url=url, headers=auth, timeout=60)
        if response.status_code >= 500:
            failures.append(f"{operation.label}: {response.status_code}")
        case.validate_response(response, checks=[not_a_server_error])

    run()
    return calls


def test_no_5xx_for_any_generated_request(server: Server, store: Store) -> None:
    import schemathesis

    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == len(MATRIX)
    failures: list[str] = []
    total = 0
    for operation in operations:
        roles = MATRIX[(operation.method.upper(), operation.path)] - {"anyone"}
        token = store.tokens[sorted(roles)[0]] if roles else None
        auth = {"Authorization": f"Bearer {token}"} if token else {}
        calls = _fuzz(operation, server.url, auth, failures)
        assert calls > 0, operation.label
        total += calls
    note("schemathesis", f"schemathesis: {len(operations)} operations, {total} generated "
         f"requests (positive and negative), {len(failures)} with a 5xx")
    assert failures == []
