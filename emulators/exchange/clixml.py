"""CLIXML as Exchange writes it: objects kept as XML so their shape is exactly the captured one.

psrpcore's serializer would re-shape Exchange objects (its own RefIds, no `<MS>` SerializationData, no custom
`<LST>` type chains), so output objects are built and sent as raw `<Obj>` elements instead.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

PS_NS = "{http://schemas.microsoft.com/powershell/2004/04}"


@dataclass(frozen=True)
class RawObject:
    """One `<Obj>` element, serialized, ready to be a PipelineOutput message."""

    xml: bytes

    @classmethod
    def from_element(cls, element: ET.Element, *, keep_ids: bool = False) -> RawObject:
        """Serialize `element`; unless `keep_ids` (a capture served as it is), RefIds are renumbered first."""
        if not keep_ids:
            element = renumber(element)
        return cls(ET.tostring(element, encoding="utf-8"))


def _strip_namespace(element: ET.Element) -> None:
    for node in element.iter():
        if isinstance(node.tag, str) and node.tag.startswith(PS_NS):
            node.tag = node.tag[len(PS_NS) :]


def load_capture(path: str | Path) -> list[ET.Element]:
    """The top-level objects of an Export-Clixml file, each made self-contained (see `load_capture_text`)."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ValueError(f"capture {path}: not readable ({exc})") from exc
    try:
        return load_capture_text(text)
    except ValueError as exc:
        raise ValueError(f"capture {path}: {exc}") from exc


def load_capture_text(text: str) -> list[ET.Element]:
    """The top-level objects of Export-Clixml text, each made self-contained.

    Export-Clixml numbers RefIds across the whole file, so the second object may say `<TNRef RefId="0"/>` or
    `<Ref RefId="4"/>` about something defined in the first; each PSRP message is deserialized on its own, so
    such references are replaced by copies of what they point at.
    """
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ValueError(f"not CLIXML ({exc})") from exc
    _strip_namespace(root)
    if root.tag != "Objs":
        raise ValueError(f"the root element is <{root.tag}>, expected <Objs>")
    type_names: dict[str, ET.Element] = {}
    objects: dict[str, ET.Element] = {}
    for node in root.iter():
        if node.tag == "TN" and "RefId" in node.attrib:
            type_names[node.attrib["RefId"]] = node
        elif node.tag == "Obj" and "RefId" in node.attrib:
            objects[node.attrib["RefId"]] = node
    result = []
    for top in list(root):
        top = copy.deepcopy(top)
        top.tail = None
        _make_self_contained(top, type_names, objects, set(), set())
        result.append(top)
    return result


def compact(element: ET.Element) -> ET.Element:
    """Drop the indentation Export-Clixml adds: on the wire PowerShell writes no whitespace between elements."""
    for node in element.iter():
        if len(node) and node.text is not None and not node.text.strip():
            node.text = None
        if node.tail is not None and not node.tail.strip():
            node.tail = None
    return element


def _make_self_contained(
    element: ET.Element,
    type_names: dict[str, ET.Element],
    objects: dict[str, ET.Element],
    seen_tn: set[str],
    seen_obj: set[str],
) -> None:
    if element.tag == "Obj" and "RefId" in element.attrib:
        seen_obj.add(element.attrib["RefId"])
    for index, child in enumerate(list(element)):
        if child.tag == "TN" and "RefId" in child.attrib:
            seen_tn.add(child.attrib["RefId"])
        elif child.tag == "TNRef" and child.attrib.get("RefId") not in seen_tn:
            replacement = copy.deepcopy(type_names[child.attrib["RefId"]])
            replacement.tail = child.tail
            element[index] = replacement
            seen_tn.add(child.attrib["RefId"])
            continue
        elif child.tag == "Ref" and child.attrib.get("RefId") not in seen_obj:
            replacement = copy.deepcopy(objects[child.attrib["RefId"]])
            if "N" in child.attrib:
                replacement.set("N", child.attrib["N"])
            replacement.tail = child.tail
            element[index] = replacement
            child = replacement
        _make_self_contained(child, type_names, objects, seen_tn, seen_obj)


# ---- reading and editing properties of an object element -------------------------------------------------


def prop(obj: ET.Element, name: str) -> ET.Element:
    """The `<Props>` or `<MS>` child named `name`."""
    for section in ("Props", "MS"):
        holder = obj.find(section)
        if holder is None:
            continue
        for child in holder:
            if child.get("N") == name:
                return child
    raise KeyError(name)


def set_prop(obj: ET.Element, name: str, value: ET.Element) -> None:
    """Replace the property `name` in place (same position, so the property order stays the captured one)."""
    for section in ("Props", "MS"):
        holder = obj.find(section)
        if holder is None:
            continue
        for index, child in enumerate(list(holder)):
            if child.get("N") == name:
                value.set("N", name)
                value.tail = child.tail
                holder[index] = value
                return
    raise KeyError(name)


def set_text(obj: ET.Element, name: str, text: str) -> None:
    set_prop(obj, name, primitive(text))


def set_to_string(obj: ET.Element, text: str) -> None:
    node = obj.find("ToString")
    if node is None:
        node = ET.Element("ToString")
        obj.insert(1, node)
    node.text = encode_string(text)


def renumber(obj: ET.Element) -> ET.Element:
    """Give every Obj/TN a fresh RefId in document order and point each Ref/TNRef at the latest definition of
    its old id (one PSRP message is one RefId space; built pieces all start at RefId 0)."""
    obj_map: dict[str, str] = {}
    tn_map: dict[str, str] = {}
    obj_count = tn_count = 0
    for node in obj.iter():
        if node.tag == "Obj" and "RefId" in node.attrib:
            obj_map[node.attrib["RefId"]] = str(obj_count)
            node.set("RefId", str(obj_count))
            obj_count += 1
        elif node.tag == "TN" and "RefId" in node.attrib:
            tn_map[node.attrib["RefId"]] = str(tn_count)
            node.set("RefId", str(tn_count))
            tn_count += 1
        elif node.tag == "Ref":
            node.set("RefId", obj_map.get(node.attrib["RefId"], node.attrib["RefId"]))
        elif node.tag == "TNRef":
            node.set("RefId", tn_map.get(node.attrib["RefId"], node.attrib["RefId"]))
    return obj


# ---- building values --------------------------------------------------------------------------------------


def encode_string(value: str) -> str:
    """PowerShell's CLIXML escaping: control characters as `_xHHHH_` (`\\r\\n` is `_x000D__x000A_`), and a `_`
    that would otherwise read as the start of such an escape."""
    out = []
    for index, ch in enumerate(value):
        code = ord(ch)
        if code < 0x20 or (ch == "_" and _ESCAPE.match(value, index)):
            out.append(f"_x{code:04X}_")
        else:
            out.append(ch)
    return "".join(out)


_ESCAPE = re.compile(r"_x[0-9A-Fa-f]{4}_")


def format_datetime(value: dt.datetime) -> str:
    """.NET round-trip format: 7 fractional digits only when there is a fraction, offset or Z."""
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}0"
    offset = value.utcoffset()
    if offset is None:
        return text
    if offset == dt.timedelta(0) and value.tzinfo is dt.UTC:
        return text + "Z"
    total = int(offset.total_seconds()) // 60
    sign = "+" if total >= 0 else "-"
    return f"{text}{sign}{abs(total) // 60:02d}:{abs(total) % 60:02d}"


def primitive(value: object, name: str | None = None) -> ET.Element:
    """A primitive CLIXML element for a Python value (str, bool, int, bytes, datetime, UUID, None)."""
    if value is None:
        element = ET.Element("Nil")
    elif isinstance(value, bool):
        element = ET.Element("B")
        element.text = "true" if value else "false"
    elif isinstance(value, int):
        element = ET.Element("I32")
        element.text = str(value)
    elif isinstance(value, float):
        element = ET.Element("Db")
        element.text = repr(value)
    elif isinstance(value, bytes):
        element = ET.Element("BA")
        element.text = base64.b64encode(value).decode()
    elif isinstance(value, dt.datetime):
        element = ET.Element("DT")
        element.text = format_datetime(value)
    elif isinstance(value, uuid.UUID):
        element = ET.Element("G")
        element.text = str(value)
    elif isinstance(value, str):
        element = ET.Element("S")
        element.text = encode_string(value)
    elif isinstance(value, ET.Element):
        element = value
    else:
        raise TypeError(f"no CLIXML primitive for {type(value).__name__}")
    if name is not None:
        element.set("N", name)
    return element


def complex_object(
    type_names: Iterable[str],
    to_string: str | None,
    props: Iterable[tuple[str, object]] = (),
    members: Iterable[tuple[str, object]] = (),
    name: str | None = None,
) -> ET.Element:
    """An `<Obj>` with a TN chain, ToString, adapted properties and note properties."""
    obj = ET.Element("Obj", {"RefId": "0"})
    if name is not None:
        obj.set("N", name)
    tn = ET.SubElement(obj, "TN", {"RefId": "0"})
    for type_name in type_names:
        ET.SubElement(tn, "T").text = type_name
    if to_string is not None:
        ET.SubElement(obj, "ToString").text = encode_string(to_string)
    props = list(props)
    if props:
        holder = ET.SubElement(obj, "Props")
        for key, value in props:
            holder.append(primitive(value, key))
    members = list(members)
    if members:
        holder = ET.SubElement(obj, "MS")
        for key, value in members:
            holder.append(primitive(value, key))
    return obj


def enum_value(type_name: str, text: str, number: int, name: str | None = None) -> ET.Element:
    """An enum as PowerShell sends it: the type chain, the name(s) as ToString and the number as I32."""
    obj = complex_object([type_name, "System.Enum", "System.ValueType", "System.Object"], text, name=name)
    ET.SubElement(obj, "I32").text = str(number)
    return obj


def multi_valued(type_names: Iterable[str], items: Iterable[object], name: str | None = None) -> ET.Element:
    """Exchange's MultiValuedProperty<T>: a custom type chain around an `<LST>`."""
    obj = complex_object(type_names, None, name=name)
    lst = ET.SubElement(obj, "LST")
    for item in items:
        lst.append(primitive(item))
    return obj


STRING_LIST_TYPES = [
    "Microsoft.Exchange.Data.MultiValuedProperty`1[[System.String, mscorlib, Version=4.0.0.0, Culture=neutral, "
    "PublicKeyToken=b77a5c561934e089]]",
    "Microsoft.Exchange.Data.MultiValuedPropertyBase",
    "System.Object",
]
