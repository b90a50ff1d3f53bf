"""Fault rules of the admin API: make a matching request fail, hang, drop, or race with another writer.

A rule: {"when": {"operation": "METHOD /path-prefix", "tenant": "<id or domain>"?},
         "fail": {"kind": "http"|"drop"|"delay"|"concurrent_key", ...}, "times": N?}
- http: answer `status` (default 503) with a Graph error (`code`, `message`), and `Retry-After: retry_after_s`.
- drop: close the connection without an answer.
- delay: answer `delay_s` seconds late.
- concurrent_key: another writer adds a key to the Exchange Online service principal of the caller's tenant,
  `at` "before" the request is handled (it lands between the caller's read and write), or "after" it (a writer
  that read before the request writes its stale view back, plus its key). `keyCredential` gives the key,
  otherwise a fresh certificate is made.
`times` counts down to zero (absent: every matching request).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

KINDS = ("http", "drop", "delay", "concurrent_key")


@dataclass
class FaultRule:
    method: str | None
    path_prefix: str
    kind: str
    tenant: str | None = None
    status: int = 503
    code: str | None = None
    message: str | None = None
    retry_after_s: int | None = None
    delay_s: float = 0.0
    at: str = "before"
    key_credential: dict[str, Any] | None = None
    times: int | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, rule: Any) -> FaultRule:
        if not isinstance(rule, dict):
            raise ValueError("each rule must be an object")
        when = rule.get("when") or {}
        fail = rule.get("fail") or {}
        operation = when.get("operation")
        if not isinstance(operation, str) or not operation.strip():
            raise ValueError('when.operation is required: "METHOD /path-prefix"')
        parts = operation.split(None, 1)
        method, prefix = (None, parts[0]) if len(parts) == 1 else (parts[0].upper(), parts[1])
        if not prefix.startswith("/"):
            raise ValueError("when.operation: the path prefix must start with /")
        kind = fail.get("kind")
        if kind not in KINDS:
            raise ValueError(f"fail.kind must be one of {', '.join(KINDS)}")
        times = rule.get("times")
        if times is not None and (not isinstance(times, int) or times < 1):
            raise ValueError("times must be a positive integer")
        at = fail.get("at", "before")
        if at not in ("before", "after"):
            raise ValueError("fail.at must be before or after")
        retry_after = fail.get("retry_after_s")
        return cls(
            method=method,
            path_prefix=prefix,
            kind=kind,
            tenant=when.get("tenant"),
            status=int(fail.get("status", 503)),
            code=fail.get("code"),
            message=fail.get("message"),
            retry_after_s=int(retry_after) if retry_after is not None else None,
            delay_s=float(fail.get("delay_s", 1.0)),
            at=at,
            key_credential=fail.get("keyCredential"),
            times=times,
            raw=rule,
        )

    def matches(self, method: str, path: str, tenant: str | None) -> bool:
        if self.method is not None and self.method != method.upper():
            return False
        if not path.lower().startswith(self.path_prefix.lower()):
            return False
        return self.tenant is None or (tenant is not None and tenant.lower() == self.tenant.lower())


class FaultBook:
    """The active rules, first match wins."""

    def __init__(self) -> None:
        self.rules: list[FaultRule] = []

    def add(self, rules: Any) -> None:
        if not isinstance(rules, list):
            raise ValueError('body must be {"rules": [...]}')
        parsed = [FaultRule.from_json(r) for r in rules]  # all or nothing
        self.rules.extend(parsed)

    def clear(self) -> None:
        self.rules.clear()

    def match(self, method: str, path: str, tenant: str | None) -> FaultRule | None:
        for rule in self.rules:
            if rule.matches(method, path, tenant):
                if rule.times is not None:
                    rule.times -= 1
                    if rule.times <= 0:
                        self.rules.remove(rule)
                return rule
        return None

    def to_json(self) -> list[dict[str, Any]]:
        return [dict(r.raw, times=r.times) for r in self.rules]
