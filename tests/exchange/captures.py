"""The real Exchange captures, read through pypsrp's own deserializer (the code that runs on the wire)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from pypsrp.serializer import Serializer

REPO = Path(__file__).resolve().parents[2]
FIXTURES = (REPO / ".." / "shared" / "fixtures").resolve()
CAPTURES = FIXTURES / "exchange"
PS_NAMESPACE = "http://schemas.microsoft.com/powershell/2004/04"


def capture_elements(name: str) -> list[ET.Element]:
    """The top-level <Obj> elements of a capture, without the Export-Clixml namespace (PSRP carries none)."""
    text = (CAPTURES / name).read_text(encoding="utf-8-sig").replace(f' xmlns="{PS_NAMESPACE}"', "")
    return list(ET.fromstring(text))


def capture_objects(name: str) -> list[Any]:
    """Each object as pypsrp hands it to us. On the wire every output object is its own PSRP message, so each
    is deserialised on its own; TNRef ids across objects are resolved by keeping one serializer's ref table."""
    serializer = Serializer()
    return [serializer.deserialize(e, clear=(i == 0)) for i, e in enumerate(capture_elements(name))]


def capture_xml(name: str) -> list[str]:
    return [ET.tostring(e, encoding="unicode") for e in capture_elements(name)]
