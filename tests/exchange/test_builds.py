from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pushproxy import builds
from pushproxy.builds import Build, meets_minimum, parse_admin_display_version, release_name
from tests.exchange.captures import FIXTURES, capture_objects

parts = st.integers(min_value=0, max_value=99999)
build_tuples = st.tuples(st.integers(0, 99), st.integers(0, 99), parts, parts)


@given(build_tuples, st.sampled_from(["", ": Hotfix", ": Security Update For Exchange Server 2019 CU15 SU3 (KB5049233)"]))
def test_every_form_of_admin_display_version_parses_to_the_same_build(t: tuple[int, int, int, int], suffix: str) -> None:
    major, minor, build, revision = t
    expected = Build(*t)
    assert parse_admin_display_version(f"Version {major}.{minor} (Build {build}.{revision}{suffix})") == expected
    assert parse_admin_display_version(str(expected)) == expected
    assert parse_admin_display_version(f"{major:02d}.{minor:02d}.{build:04d}.{revision:03d}") == expected


@given(build_tuples, build_tuples)
def test_builds_compare_numerically_field_by_field(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> None:
    assert (Build(*a) < Build(*b)) == (a < b)
    assert (Build(*a) == Build(*b)) == (a == b)
    # The gate is exactly "at or above 15.0.775.38".
    assert meets_minimum(Build(*a)) == (a >= (15, 0, 775, 38))


@given(build_tuples)
def test_release_names_never_claim_a_later_release(t: tuple[int, int, int, int]) -> None:
    b = Build(*t)
    name = release_name(b)
    if name and not name.endswith("(before CU1)") and (b.major, b.minor) in ((15, 0), (15, 1), (15, 2)):
        listed = [r for r in builds._releases() if r.name == name.split("+")[0]]
        assert listed and listed[0].build <= b


def test_the_server_version_object_of_the_capture_is_read_from_its_fields() -> None:
    server = capture_objects("e19-GetExchangeServer.xml")[0]
    version = server.adapted_properties["AdminDisplayVersion"]
    assert parse_admin_display_version(version) == Build(15, 2, 986, 5)
    assert parse_admin_display_version(version.to_string) == Build(15, 2, 986, 5)


@pytest.mark.parametrize(
    ("build", "name"),
    [
        ("15.0.1497.48", "Exchange 2013 CU23 Mar23SU"),
        ("15.2.1748.10", "Exchange 2019 CU15"),
        ("15.2.2562.17", "Exchange SE RTM"),
        ("15.0.775.38", "Exchange 2013 CU3"),
        ("15.0.1473.3", "Exchange 2013 CU22"),  # CU22 and its Feb19SU share a build: the CU wins
        ("15.1.2507.6", "Exchange 2016 CU23"),
    ],
)
def test_release_names_from_the_build_table(build: str, name: str) -> None:
    assert release_name(Build.parse(build)) == name


def test_a_build_the_table_does_not_list_is_named_after_the_release_below_it() -> None:
    assert release_name(Build.parse("15.2.1748.99")) == "Exchange 2019 CU15 Feb26SU+ (15.2.1748.99)"
    assert release_name(Build.parse("14.3.123.4")) == "Exchange 2010 or earlier"


def test_the_cu3_gate() -> None:
    assert not meets_minimum(Build.parse("15.0.712.24"))  # 2013 CU2
    assert meets_minimum(Build.parse("15.0.775.38"))
    assert meets_minimum(Build.parse("15.2.2562.17"))


def test_the_package_data_is_a_copy_of_the_shared_build_table() -> None:
    from importlib import resources

    packaged = json.loads(resources.files("pushproxy").joinpath("data/exchange-builds.json").read_text())
    assert packaged == json.loads((FIXTURES / "exchange-builds.json").read_text())


@pytest.mark.parametrize("bad", ["", "Version 15.2", "15.2.986", "Version 15.2 (Build x.5)", None, 15])
def test_unreadable_versions_raise_value_error(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_admin_display_version(bad)
