"""WS-Management SOAP: parse a request envelope, build responses and WSMan faults."""

from __future__ import annotations

import re
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "wsa": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "wsman": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "wsmv": "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
    "wst": "http://schemas.xmlsoap.org/ws/2004/09/transfer",
    "wsmanfault": "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault",
    "pwsh": "http://schemas.microsoft.com/powershell",
}
for _prefix, _uri in NS.items():
    ET.register_namespace(_prefix, _uri)

ACTIONS = {
    "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create": "Create",
    "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete": "Delete",
    "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get": "Get",
    "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command": "Command",
    "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive": "Receive",
    "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Send": "Send",
    "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Signal": "Signal",
}
RESOURCE_PREFIX = "http://schemas.microsoft.com/powershell/"

# WSMan fault codes pypsrp (and PowerShell) branch on.
TIMED_OUT = 0x80338029  # 2150858793: Receive had nothing to say within OperationTimeout
INVALID_RESOURCE_URI = 0x8033803B  # 2150858811: the configuration name isn't served here
SHELL_NOT_FOUND = 0x8033805B  # 2150858843: unknown ShellId (pypsrp's is_alive treats it as closed)
INVALID_SELECTORS = 0x80338041  # 2150858817: a command id the shell doesn't know
SCHEMA_INVALID = 0x80338099  # 2150858905: the request isn't a valid WSMan envelope
ENVELOPE_TOO_LARGE = 0x80338111  # 2150859025: the request exceeds MaxEnvelopeSize
ACTION_NOT_SUPPORTED = 0x80338043  # 2150858819
INTERNAL_ERROR = 0x8033800A  # 2150858762
# Exchange's throttling faults arrive with this generic WSMan code; the text says which quota (assumption: the
# exact code of on-premises throttling faults was not captured).
THROTTLED = 0x803381A6


def max_shells_text(limit: int) -> str:
    """PowerShellMaxConcurrency's refusal, as on-premises remote PowerShell words it."""
    return (
        "The WS-Management service cannot process the request. This user is allowed a maximum number of "
        f"{limit} concurrent shells, which has been exceeded. Close existing shells or raise the quota for this user."
    )


def cmdlet_quota_text(requests: int, seconds: int, retry_ms: int) -> str:
    """PowerShellMaxCmdlets' refusal: the hint Z (milliseconds) is the shortest wait before the next request."""
    return (
        "The WS-Management service cannot process the request. The user load quota of "
        f"{requests} requests per {seconds} seconds has been exceeded. Send future requests at a slower rate or "
        f"raise the quota for this user. The next request from this user will not be approved for at least "
        f"{retry_ms} milliseconds."
    )


class WSManFault(Exception):
    """Answered as a SOAP fault (HTTP 500) whose WSManFault Code is `code`."""

    def __init__(self, code: int, message: str, subcode: str = "w:InternalError") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.subcode = subcode


@dataclass
class Request:
    action: str
    message_id: str
    resource_uri: str
    operation_timeout: float
    max_envelope: int
    shell_id: str | None
    body: ET.Element
    options: dict[str, str] = field(default_factory=dict)


def _seconds(text: str | None, default: float) -> float:
    match = re.fullmatch(r"PT(\d+(?:\.\d+)?)S", (text or "").strip())
    return min(float(match.group(1)), 3600.0) if match else default  # an hour is plenty for a long-poll


def parse(data: bytes) -> Request:
    """Parse a SOAP envelope; anything malformed is a WSMan fault, never an exception the caller must guess."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise WSManFault(SCHEMA_INVALID, f"The WS-Management service cannot process the request because the XML is "
                                         f"invalid: {exc}.", "w:SchemaValidationError") from None
    header, body = root.find("s:Header", NS), root.find("s:Body", NS)
    if root.tag != f"{{{NS['s']}}}Envelope" or header is None or body is None:
        raise WSManFault(SCHEMA_INVALID, "The WS-Management service cannot process the request because it is not a "
                                         "SOAP 1.2 envelope with a Header and a Body.", "w:SchemaValidationError")
    action_uri = (header.findtext("wsa:Action", "", NS) or "").strip()
    message_id = (header.findtext("wsa:MessageID", "", NS) or "").strip()
    if not message_id:
        raise WSManFault(SCHEMA_INVALID, "The WS-Management service cannot process the request because the "
                                         "MessageID header is missing.", "w:SchemaValidationError")
    if action_uri not in ACTIONS:
        raise WSManFault(ACTION_NOT_SUPPORTED, f"The WS-Management service does not support the action "
                                               f"'{action_uri}'.", "w:ActionNotSupported")
    shell_id = None
    for selector in header.findall("wsman:SelectorSet/wsman:Selector", NS):
        if selector.get("Name") == "ShellId":
            shell_id = (selector.text or "").strip()
    options = {o.get("Name", ""): o.text or "" for o in header.findall("wsman:OptionSet/wsman:Option", NS)}
    try:
        max_envelope = int(header.findtext("wsman:MaxEnvelopeSize", "153600", NS) or "153600")
    except ValueError:
        max_envelope = 153600
    return Request(
        action=ACTIONS[action_uri], message_id=message_id,
        resource_uri=(header.findtext("wsman:ResourceURI", "", NS) or "").strip(),
        operation_timeout=_seconds(header.findtext("wsman:OperationTimeout", None, NS), 60.0),
        max_envelope=max_envelope, shell_id=shell_id, body=body, options=options,
    )


def message_id_of(data: bytes) -> str | None:
    """Best effort, for faults about requests that failed to parse: their MessageID, if any."""
    match = re.search(rb"<(?:\w+:)?MessageID[^>]*>\s*([^<\s]+)\s*<", data)
    return match.group(1).decode(errors="replace") if match else None


def envelope(action: str, relates_to: str | None, *body: ET.Element | None) -> bytes:
    env = ET.Element(f"{{{NS['s']}}}Envelope")
    header = ET.SubElement(env, f"{{{NS['s']}}}Header")
    ET.SubElement(header, f"{{{NS['wsa']}}}Action").text = action
    ET.SubElement(header, f"{{{NS['wsa']}}}MessageID").text = f"uuid:{str(uuid.uuid4()).upper()}"
    ET.SubElement(header, f"{{{NS['wsa']}}}To").text = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
    if relates_to:
        ET.SubElement(header, f"{{{NS['wsa']}}}RelatesTo").text = relates_to
    b = ET.SubElement(env, f"{{{NS['s']}}}Body")
    for part in body:
        if part is not None:
            b.append(part)
    return ET.tostring(env, encoding="utf-8", xml_declaration=False)


def response(req: Request, *body: ET.Element | None) -> bytes:
    base = {"Create": "http://schemas.xmlsoap.org/ws/2004/09/transfer/", "Delete": "http://schemas.xmlsoap.org/ws/2004/09/transfer/",
            "Get": "http://schemas.xmlsoap.org/ws/2004/09/transfer/"}.get(req.action, "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/")
    return envelope(f"{base}{req.action}Response", req.message_id, *body)


def fault(fault_: WSManFault, relates_to: str | None, machine: str) -> bytes:
    s = NS["s"]
    body = ET.Element(f"{{{s}}}Fault")
    code = ET.SubElement(body, f"{{{s}}}Code")
    ET.SubElement(code, f"{{{s}}}Value").text = "s:Receiver"
    sub = ET.SubElement(code, f"{{{s}}}Subcode")
    ET.SubElement(sub, f"{{{s}}}Value").text = fault_.subcode
    reason = ET.SubElement(body, f"{{{s}}}Reason")
    ET.SubElement(reason, f"{{{s}}}Text", {"{http://www.w3.org/XML/1998/namespace}lang": "en-US"}).text = fault_.message
    detail = ET.SubElement(body, f"{{{s}}}Detail")
    wsf = ET.SubElement(detail, f"{{{NS['wsmanfault']}}}WSManFault", {"Code": str(fault_.code), "Machine": machine})
    ET.SubElement(wsf, f"{{{NS['wsmanfault']}}}Message").text = fault_.message
    return envelope("http://schemas.dmtf.org/wbem/wsman/1/wsman/fault", relates_to, body)


def el(tag: str, text: str | None = None, **attrib: str) -> ET.Element:
    prefix, _, local = tag.partition(":")
    element = ET.Element(f"{{{NS[prefix]}}}{local}", attrib)
    element.text = text
    return element


def sub(parent: ET.Element, tag: str, text: str | None = None, **attrib: str) -> ET.Element:
    child = el(tag, text, **attrib)
    parent.append(child)
    return child
