"""Reading the objects pypsrp hands back: property bags, nested ToStrings, raw <LST> XML, DateTimes.

pypsrp 0.9.1 deserialises an Exchange object into a GenericComplexObject (`adapted_properties` from <Props>,
`extended_properties` from <MS>, `to_string`). Three shapes need help:
- a multi-valued property (MultiValuedProperty<T>) arrives as an object whose `property_sets` holds raw `<LST>` XML;
- an `<Obj>` whose type-name chain pypsrp does not recognise as an object (it matches on `System.Object`, with a
  `Deserialized.System.` prefix stripped) comes back as the raw `<Obj>` XML string: we add `System.Object` to each
  type-name list and deserialise it again with pypsrp's own serializer;
- DateTimes arrive as strings with 7 fractional digits and an offset.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Any

from pypsrp.complex_objects import GenericComplexObject
from pypsrp.serializer import Serializer

_OBJECT_TYPES = ("System.Object", "Deserialized.System.Object")


def as_object(value: Any) -> GenericComplexObject | None:
    """`value` as a property bag: a GenericComplexObject as is, a raw `<Obj>` XML string re-read; else None."""
    if isinstance(value, GenericComplexObject):
        return value
    if isinstance(value, str) and value.lstrip().startswith("<"):
        return _reread_raw_object(value)
    return None


def _reread_raw_object(xml_text: str) -> GenericComplexObject | None:
    try:
        element = ET.fromstring(xml_text)
    except ET.ParseError:
        return None
    _strip_namespaces(element)
    if element.tag != "Obj":
        return None
    for tn in element.iter("TN"):
        names = [t.text or "" for t in tn.findall("T")]
        if not any(n in _OBJECT_TYPES for n in names):
            ET.SubElement(tn, "T").text = "System.Object"
    # A TNRef to a type list sent with an earlier object can't be resolved here: make it a plain object.
    defined = {tn.get("RefId") for tn in element.iter("TN")}
    for parent in element.iter():
        for i, child in enumerate(list(parent)):
            if child.tag == "TNRef" and child.get("RefId") not in defined:
                tn = ET.Element("TN", {"RefId": f"__pp{child.get('RefId')}"})
                ET.SubElement(tn, "T").text = "System.Object"
                parent.remove(child)
                parent.insert(i, tn)
    if element.find("TN") is None and element.find("TNRef") is None:
        tn = ET.Element("TN", {"RefId": "__pp"})
        ET.SubElement(tn, "T").text = "System.Object"
        element.insert(0, tn)
    try:
        result = Serializer().deserialize(element)
    except (KeyError, ValueError, TypeError, AttributeError):  # malformed CLIXML: no object, not a crash
        return None
    return result if isinstance(result, GenericComplexObject) else None


def _strip_namespaces(element: ET.Element) -> None:
    # Export-Clixml files carry the PowerShell namespace; the wire form (and pypsrp) uses bare names.
    for e in element.iter():
        if isinstance(e.tag, str) and e.tag.startswith("{"):
            e.tag = e.tag.split("}", 1)[1]


def properties(value: Any) -> dict[str, Any]:
    """Every property of an object: adapted (<Props>) and extended (<MS>), adapted winning on a clash."""
    obj = as_object(value)
    if obj is None:
        return dict(value) if isinstance(value, dict) else {}
    merged = dict(obj.extended_properties)
    merged.update(obj.adapted_properties)
    return merged


def text(value: Any) -> str | None:
    """A property as text: strings as they are, nested objects by their ToString; None and "" as None."""
    if value is None:
        return None
    obj = as_object(value) if not isinstance(value, str) or value.lstrip().startswith("<") else None
    if obj is not None:
        # str(obj) gives the literal 'None' when no ToString was sent: read the attribute instead.
        value = obj.to_string
        if value is None:
            return None
    result = str(value)
    return result if result != "" else None


def boolean(value: Any, default: bool = False) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return default


def timestamp(value: Any) -> datetime | None:
    """A DateTime property (`2031-11-26T06:29:07.1234567+01:00`), as an aware datetime; None when Nil/empty."""
    raw = text(value) if not isinstance(value, datetime) else None
    if isinstance(value, datetime):
        parsed = value
    elif not raw:
        return None
    else:
        raw = raw.strip().replace("Z", "+00:00")
        # 7 fractional digits (.NET ticks) are more than older parsers take: keep microseconds.
        if "." in raw:
            head, _, rest = raw.partition(".")
            digits = rest[: len(rest) - len(rest.lstrip("0123456789"))]  # the fraction only, not the offset
            tail = rest[len(digits) :]
            raw = f"{head}.{digits[:6].ljust(6, '0')}{tail}"
        parsed = datetime.fromisoformat(raw)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def multi_valued(value: Any) -> list[str]:
    """A MultiValuedProperty (raw `<LST>` XML in `property_sets`), a list, or a single value, as strings."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [t for t in (text(v) for v in value) if t is not None]
    obj = as_object(value)
    if obj is None:
        single = text(value)
        return [single] if single is not None else []
    items: list[str] = []
    raw_sets = [s for s in obj.property_sets if isinstance(s, str) and s.lstrip().startswith("<LST")]
    for raw in raw_sets:
        items.extend(_parse_lst(raw))
    if not raw_sets:
        for entry in obj.property_sets:
            t = text(entry)
            if t is not None:
                items.append(t)
    return items


def _parse_lst(raw: str) -> list[str]:
    try:
        element = ET.fromstring(raw)
    except ET.ParseError:
        return []
    _strip_namespaces(element)
    out: list[str] = []
    for child in element:
        if child.tag == "Obj":
            shown = child.findtext("ToString")
            if shown is None:
                shown = child.findtext("S")
        elif child.tag == "Nil":
            shown = None
        else:
            shown = child.text
        if shown:
            out.append(Serializer()._deserialize_string(shown))  # undo _xHHHH_ escapes as pypsrp does
    return out
