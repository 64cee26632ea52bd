"""JSON numbers typed as text (issue #13): a string in a number field is read by the web forms'
parser (`units.numbers.parse_number`: decimal comma, digit groups), or refused with the same
message the web page gives; a JSON number is taken as it is."""

from __future__ import annotations

import httpx
import pytest
from api_helpers import Env, error_of

from trialdesk.units.numbers import NumberError, parse_number


def _itt(env: Env, pid: str, samples: list[dict[str, object]]) -> httpx.Response:
    return env.api.post(
        "coordinator",
        f"/participants/{pid}/itt-tests",
        {"visit_code": "BL", "glucose_unit": "mmol/L", "samples": samples},
    )


def test_a_decimal_comma_in_a_json_string_is_read_as_on_the_web(env: Env) -> None:
    pid = env.build.enrolled()
    env.build.baseline(pid)
    samples = [
        {"minute": 0, "glucose": "10,0"},
        {"minute": "3", "glucose": "9,8"},
        {"minute": 6, "glucose": 9.5},  # a JSON number: as it is
        {"minute": 9, "glucose": " 9,1 "},
        {"minute": 12, "glucose": "8.9"},
        {"minute": 15, "glucose": "8,5"},
    ]
    created = _itt(env, pid, samples)
    assert created.status_code == 201, created.text
    stored = {s["minute"]: s["glucose_as_entered"] for s in created.json()["samples"]}
    assert stored == {0.0: 10.0, 3.0: 9.8, 6.0: 9.5, 9.0: 9.1, 12.0: 8.9, 15.0: 8.5}


@pytest.mark.parametrize("typed", ["9,8,1", "1,000", "9.8,1", "nine", "true"])
def test_a_string_that_is_no_number_is_refused_with_the_web_message(env: Env, typed: str) -> None:
    pid = env.build.enrolled()
    env.build.baseline(pid)
    samples: list[dict[str, object]] = [{"minute": m, "glucose": 9.0} for m in (0, 3, 6, 9, 12, 15)]
    samples[1]["glucose"] = typed
    before = env.api.get("coordinator", f"/participants/{pid}/itt-tests").json()["items"]
    refused = _itt(env, pid, samples)
    assert refused.status_code == 422
    error = error_of(refused)
    assert error["field"] == "body.samples.1.glucose"
    with pytest.raises(NumberError) as web:
        parse_number(typed)
    assert str(web.value) in error["message"]
    after = env.api.get("coordinator", f"/participants/{pid}/itt-tests").json()["items"]
    assert after == before  # nothing stored


def test_a_json_boolean_is_not_a_number(env: Env) -> None:
    pid = env.build.enrolled()
    env.build.baseline(pid)
    samples: list[dict[str, object]] = [{"minute": m, "glucose": 9.0} for m in (0, 3, 6, 9, 12, 15)]
    samples[2]["glucose"] = True
    refused = _itt(env, pid, samples)
    assert refused.status_code == 422
    assert error_of(refused)["field"] == "body.samples.2.glucose"
