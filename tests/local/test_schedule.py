"""Timer schedules as the Functions host reads them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pushproxy.errors import SpecError
from pushproxy.local.http_api import _route_regex
from pushproxy.local.schedule import Schedule, resolve_schedule

T0 = datetime(2024, 1, 1, 12, 0, 0, tzinfo=UTC)


def test_ncrontab_puts_seconds_first() -> None:
    every_five_minutes = Schedule("0 */5 * * * *")
    assert every_five_minutes.next_after(T0) == datetime(2024, 1, 1, 12, 5, 0, tzinfo=UTC)
    every_ten_seconds = Schedule("*/10 * * * * *")
    assert every_ten_seconds.next_after(T0) == datetime(2024, 1, 1, 12, 0, 10, tzinfo=UTC)
    daily_at_five = Schedule("0 0 5 * * *")
    assert daily_at_five.next_after(T0) == datetime(2024, 1, 2, 5, 0, 0, tzinfo=UTC)


def test_timespan_schedules_are_intervals() -> None:
    assert Schedule("00:05:00").next_after(T0) == datetime(2024, 1, 1, 12, 5, tzinfo=UTC)


@pytest.mark.parametrize("bad", ["* * * * *", "0 */5 * * * * *", "61 * * * * *", "00:00:00"])
def test_bad_schedules_name_the_field(bad: str) -> None:
    with pytest.raises(SpecError, match="schedule"):
        Schedule(bad)


def test_setting_references_come_from_the_environment_then_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PUSHPROXY_VERIFY_SCHEDULE", raising=False)
    assert resolve_schedule("%PUSHPROXY_VERIFY_SCHEDULE%") == "0 0 5 * * *"
    monkeypatch.setenv("PUSHPROXY_VERIFY_SCHEDULE", "0 */1 * * * *")
    assert resolve_schedule("%PUSHPROXY_VERIFY_SCHEDULE%") == "0 */1 * * * *"
    assert resolve_schedule("0 0 * * * *") == "0 0 * * * *"
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    with pytest.raises(SpecError, match="'NOT_SET_ANYWHERE' is not set"):
        resolve_schedule("%NOT_SET_ANYWHERE%")


def test_route_templates_match_as_the_functions_host_does() -> None:
    route = _route_regex("tenants/{tenant}/onboarding")
    assert route.match("tenants/fabrikam.com/onboarding").groupdict() == {"tenant": "fabrikam.com"}
    assert route.match("tenants/fabrikam.com") is None
    optional = _route_regex("orchestrators/{functionName}/{instanceId?}")
    assert optional.match("orchestrators/x").groupdict() == {"functionName": "x", "instanceId": None}
    assert optional.match("orchestrators/x/y").groupdict() == {"functionName": "x", "instanceId": "y"}
    typed = _route_regex("items/{id:int}")
    assert typed.match("items/42").groupdict() == {"id": "42"}
    catch_all = _route_regex("files/{*path}")
    assert catch_all.match("files/a/b/c").groupdict() == {"path": "a/b/c"}


@pytest.mark.parametrize("text", ["2024-01-01T12:00:00.000001Z", "2024-02-29T23:59:59.999999Z", "2024-01-01T12:00:00Z"])
def test_fast_timestamps_parse_exactly_as_dateutil(text: str) -> None:
    from dateutil.parser import parse

    from pushproxy.local.timestamps import parse_timestamp

    assert repr(parse_timestamp(text)) == repr(parse(text))
