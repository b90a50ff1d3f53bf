"""CLIXML building blocks of the stand-in, without a server."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

from pypsrp.complex_objects import GenericComplexObject
from pypsrp.serializer import Serializer

from emulators.exchange import clixml
from tests.support.exchange_standin import FIXTURES


def test_control_characters_and_escape_lookalikes_are_escaped() -> None:
    assert clixml.encode_string("a\r\nb") == "a_x000D__x000A_b"
    assert clixml.encode_string("_x0041_") == "_x005F_x0041_"
    assert clixml.encode_string("plain_text") == "plain_text"


def test_datetimes_use_the_dotnet_round_trip_form() -> None:
    utc = dt.datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=dt.UTC)
    assert clixml.format_datetime(utc) == "2026-01-02T03:04:05.1234560Z"
    offset = dt.datetime(2019, 12, 3, 14, 47, 32, tzinfo=dt.timezone(dt.timedelta(hours=-8)))
    assert clixml.format_datetime(offset) == "2019-12-03T14:47:32-08:00"


def test_capture_objects_are_made_self_contained() -> None:
    # The second partner application refers to type lists and objects defined in the first.
    objects = clixml.load_capture(FIXTURES / "exchange" / "e19-GetPartnerApplication.xml")
    assert len(objects) == 5
    second = objects[1]
    defined = {n.get("RefId") for n in second.iter("TN")}
    assert all(ref.get("RefId") in defined for ref in second.iter("TNRef"))
    obj_ids = {n.get("RefId") for n in second.iter("Obj")}
    assert all(ref.get("RefId") in obj_ids for ref in second.iter("Ref"))
    parsed = Serializer().deserialize(ET.tostring(second, encoding="unicode"))
    assert isinstance(parsed, GenericComplexObject) and str(parsed) == "Microsoft Graph"


def test_built_objects_get_unique_ref_ids() -> None:
    inner = clixml.enum_value("Some.Enum", "Two", 2)
    obj = clixml.complex_object(["A.Type", "System.Object"], "x", [("E", inner), ("F", clixml.enum_value("Some.Enum", "One", 1))])
    raw = clixml.RawObject.from_element(obj).xml.decode()
    element = ET.fromstring(raw)
    ids = [n.get("RefId") for n in element.iter("Obj")]
    assert len(ids) == len(set(ids)) == 3
    parsed = Serializer().deserialize(raw)
    assert str(parsed.adapted_properties["E"]) == "Two" and str(parsed.adapted_properties["F"]) == "One"
