"""schemathesis against the running server's /openapi.json: generated requests (valid and not)
for every operation, each with a token of a role the route admits; no response is a 5xx.

Examples are bounded per operation so the test stays short on two cores."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .support import Server, Store
from .test_authz import MATRIX

EXAMPLES = 16


def test_no_5xx_for_any_generated_request(server: Server, store: Store) -> None:
    import schemathesis
    from schemathesis.checks import not_a_server_error

    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == len(MATRIX)
    failures: list[str] = []
    for operation in operations:
        roles = MATRIX[(operation.method.upper(), operation.path)] - {"anyone"}
        token = store.tokens[sorted(roles)[0]] if roles else None
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        calls = 0

        cases = st.one_of(operation.as_strategy(schemathesis.GenerationMode.POSITIVE),
                          operation.as_strategy(schemathesis.GenerationMode.NEGATIVE))

        @settings(max_examples=EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=cases)
        def run(case: Any, headers: dict[str, str] = headers, label: str = operation.label
                ) -> None:
            nonlocal calls
            calls += 1
            response = case.call(base_url=server.url, headers=headers, timeout=60)
            if response.status_code >= 500:
                failures.append(f"{label}: {response.status_code} {response.text[:200]}")
            case.validate_response(response, checks=[not_a_server_error])

        run()
        assert calls > 0
    assert failures == []
