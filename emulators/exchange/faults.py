"""Fault rules (`POST /_emulator/faults`): make a cmdlet or a WSMan request fail, drop, or answer late."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

KINDS = ("error", "http", "drop", "delay", "throttle")
WSMAN_ACTIONS = ("create", "command", "receive", "send", "signal", "delete", "get")


class FaultRuleError(ValueError):
    """A fault rule is malformed; the message names the field."""


@dataclass
class Fault:
    kind: str
    status: int = 503
    message: str = "The stand-in was told to fail this request."
    delay_s: float = 0.0
    exception: str = "TaskException"
    terminating: bool = False
    code: int | None = None  # the WSMan fault code when an "error" rule hits a WSMan action
    retry_ms: int = 1000  # "throttle": the wait Exchange's PowerShellMaxCmdlets fault asks for


@dataclass
class Rule:
    operation: str | None
    cmdlet: str | None
    org: str | None
    fault: Fault
    times: int | None  # None: for ever

    def to_json(self) -> dict[str, Any]:
        when = {k: v for k, v in (("operation", self.operation), ("cmdlet", self.cmdlet), ("org", self.org)) if v}
        return {"when": when, "fail": dict(self.fault.__dict__), "times": self.times}


def parse_rules(body: Any) -> list[Rule]:
    if not isinstance(body, dict) or not isinstance(body.get("rules"), list):
        raise FaultRuleError("rules: expected {\"rules\": [...]}")
    rules = []
    for i, raw in enumerate(body["rules"]):
        where = f"rules[{i}]"
        if not isinstance(raw, dict):
            raise FaultRuleError(f"{where}: expected an object")
        when, fail = raw.get("when", {}), raw.get("fail")
        if not isinstance(when, dict):
            raise FaultRuleError(f"{where}.when: expected an object")
        for key in ("operation", "cmdlet", "org"):
            if key in when and not isinstance(when[key], str):
                raise FaultRuleError(f"{where}.when.{key}: expected a string")
        if not (when.get("operation") or when.get("cmdlet")):
            raise FaultRuleError(f"{where}.when: give 'operation' (a cmdlet name or WSMan action) or 'cmdlet'")
        if not isinstance(fail, dict) or fail.get("kind") not in KINDS:
            raise FaultRuleError(f"{where}.fail.kind: expected one of {', '.join(KINDS)}")
        fault = Fault(kind=fail["kind"])
        for key, typ in (("status", int), ("message", str), ("delay_s", (int, float)), ("exception", str),
                         ("terminating", bool), ("code", int), ("retry_ms", int)):
            if key in fail:
                if not isinstance(fail[key], typ) or isinstance(fail[key], bool) and typ is not bool:
                    raise FaultRuleError(f"{where}.fail.{key}: wrong type")
                setattr(fault, key, fail[key])
        if fault.kind == "http" and not 400 <= fault.status <= 599:
            raise FaultRuleError(f"{where}.fail.status: expected an HTTP error status (400-599)")
        if fault.delay_s < 0 or fault.delay_s > 600:
            raise FaultRuleError(f"{where}.fail.delay_s: expected 0 to 600 seconds")
        times = raw.get("times")
        if times is not None and (not isinstance(times, int) or isinstance(times, bool) or times < 1):
            raise FaultRuleError(f"{where}.times: expected a positive integer")
        rules.append(Rule(when.get("operation"), when.get("cmdlet"), when.get("org"), fault, times))
    return rules


class FaultRules:
    """The active rules; `take` finds the first matching rule and counts it down."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[Rule] = []

    def add(self, rules: list[Rule]) -> None:
        with self._lock:
            self._rules.extend(rules)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def to_json(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r.to_json() for r in self._rules]

    def take(self, operation: str, org: str, cmdlet: str | None = None, kinds: tuple[str, ...] = KINDS) -> Fault | None:
        """The fault for this operation (a WSMan action or a cmdlet name), if a rule matches."""
        with self._lock:
            for rule in self._rules:
                if rule.fault.kind not in kinds:
                    continue
                if rule.org and rule.org.lower() != org.lower():
                    continue
                names = {operation.lower()} | ({cmdlet.lower()} if cmdlet else set())
                if rule.operation and rule.operation.lower() not in names:
                    continue
                if rule.cmdlet and (cmdlet is None or rule.cmdlet.lower() != cmdlet.lower()):
                    continue
                if rule.times is not None:
                    rule.times -= 1
                    if rule.times == 0:
                        self._rules.remove(rule)
                return rule.fault
        return None
