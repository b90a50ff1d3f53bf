"""The registry interface: one set of methods, written once over a tiny document store that each backend provides.

A backend stores JSON documents under (partition, row) keys, which maps one to one onto Azure Table storage's
PartitionKey/RowKey and onto a two-column primary key in SQLite. The layout:

    partition "tenant"            row <domain>                          TenantRecord
    partition "onboarding|<dom>"  row <started_at UTC>|<instance id>    OnboardingRecord (one per run)
    partition "verification"      row <domain>                          latest VerificationRecord
    partition "summary"           row "latest"                          latest VerificationSummary
    partition "summary|runs"      row <started_at UTC>|<verification id> every VerificationSummary (run history)
    partition "offboarding|<dom>" row <started_at UTC>|<instance id>    OnboardingRecord of an offboarding or prune run
"""

from __future__ import annotations

import abc
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from pushproxy.registry.models import (
    OnboardingRecord,
    TenantRecord,
    VerificationRecord,
    VerificationSummary,
    normalize_domain,
)

TENANT = "tenant"
VERIFICATION = "verification"
SUMMARY = "summary"
LATEST = "latest"


SUMMARY_RUNS = "summary|runs"


def onboarding_partition(domain: str) -> str:
    return f"onboarding|{domain}"


def offboarding_partition(domain: str) -> str:
    return f"offboarding|{domain}"


def _run_row(started: Any, instance_id: str) -> str:
    return f"{started.astimezone(UTC).strftime('%Y%m%dT%H%M%S%fZ')}|{instance_id}"


class Registry(abc.ABC):
    """Onboarded tenants and their spec, each onboarding, the latest verification results."""

    # --- the backend: a document store keyed by (partition, row) ---------------------------------------------

    @abc.abstractmethod
    def _put(self, partition: str, row: str, document: dict[str, Any]) -> None:
        """Insert or replace one document."""

    @abc.abstractmethod
    def _get(self, partition: str, row: str) -> dict[str, Any] | None:
        """One document, or None."""

    @abc.abstractmethod
    def _list(self, partition: str) -> Iterator[dict[str, Any]]:
        """Every document of a partition, in row order."""

    @abc.abstractmethod
    def _delete(self, partition: str, row: str) -> None:
        """Remove one document; absent is fine."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections. The registry is unusable afterwards."""

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the interface ----------------------------------------------------------------------------------------

    def put_tenant(self, record: TenantRecord) -> None:
        """Insert or replace a tenant (keyed by its lower-case domain)."""
        self._put(TENANT, record.domain, record.to_dict())

    def register_tenant(self, spec: dict[str, Any], registered_by: str | None) -> tuple[TenantRecord, bool]:
        """Write the operator's registration (a validated TenantSpec dict), keeping what onboardings recorded
        (onboarded_at, the last onboarding). Returns (the record, whether the tenant is new)."""
        now = datetime.now(UTC)
        previous = self.get_tenant(str(spec["tenant_domain"]))
        record = TenantRecord(
            domain=str(spec["tenant_domain"]), spec=spec,
            onboarded_at=previous.onboarded_at if previous else None, updated_at=now,
            last_onboarding_id=previous.last_onboarding_id if previous else None,
            registered_by=registered_by, registered_at=now,
        )
        self.put_tenant(record)
        return record, previous is None

    def get_tenant(self, domain: str) -> TenantRecord | None:
        document = self._get(TENANT, normalize_domain(domain))
        return None if document is None else TenantRecord.from_dict(document)

    def list_tenants(self) -> list[TenantRecord]:
        """Every tenant, ordered by domain."""
        return sorted((TenantRecord.from_dict(d) for d in self._list(TENANT)), key=lambda t: t.domain)

    def delete_tenant(self, domain: str) -> None:
        """Forget a tenant and its latest verification (its onboarding history stays, as an audit trail)."""
        key = normalize_domain(domain)
        self._delete(TENANT, key)
        self._delete(VERIFICATION, key)

    def record_onboarding(self, record: OnboardingRecord) -> None:
        """Store one onboarding run. Recording the same run again (a retried activity) replaces it."""
        started = record.started_at.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        self._put(onboarding_partition(record.domain), f"{started}|{record.instance_id}", record.to_dict())

    def list_onboardings(self, domain: str) -> list[OnboardingRecord]:
        """A tenant's onboarding runs, oldest first."""
        partition = onboarding_partition(normalize_domain(domain))
        return [OnboardingRecord.from_dict(d) for d in self._list(partition)]

    def record_offboarding(self, record: OnboardingRecord) -> None:
        """Store one offboarding (or prune) run, in the shape of an onboarding run; recording it again replaces it."""
        self._put(offboarding_partition(record.domain), _run_row(record.started_at, record.instance_id), record.to_dict())

    def list_offboardings(self, domain: str) -> list[OnboardingRecord]:
        """A tenant's offboarding and prune runs, oldest first."""
        partition = offboarding_partition(normalize_domain(domain))
        return [OnboardingRecord.from_dict(d) for d in self._list(partition)]

    def put_verification(self, record: VerificationRecord) -> None:
        """Store a tenant's latest verification result (replacing the previous one)."""
        self._put(VERIFICATION, record.domain, record.to_dict())

    def latest_verification(self, domain: str) -> VerificationRecord | None:
        document = self._get(VERIFICATION, normalize_domain(domain))
        return None if document is None else VerificationRecord.from_dict(document)

    def list_verifications(self) -> list[VerificationRecord]:
        """The latest verification of every tenant that has one, ordered by domain."""
        return sorted((VerificationRecord.from_dict(d) for d in self._list(VERIFICATION)), key=lambda v: v.domain)

    def put_verification_summary(self, summary: VerificationSummary) -> None:
        """Store the summary of the latest fleet verification, and keep it in the run history."""
        self._put(SUMMARY, LATEST, summary.to_dict())
        self._put(SUMMARY_RUNS, _run_row(summary.started_at, summary.verification_id), summary.to_dict())

    def list_verification_summaries(self, limit: int | None = None) -> list[VerificationSummary]:
        """The fleet verification runs, newest first (at most `limit`)."""
        runs = [VerificationSummary.from_dict(d) for d in self._list(SUMMARY_RUNS)]
        runs.reverse()
        return runs[:limit] if limit is not None else runs

    def latest_verification_summary(self) -> VerificationSummary | None:
        document = self._get(SUMMARY, LATEST)
        return None if document is None else VerificationSummary.from_dict(document)


def dumps(document: dict[str, Any]) -> str:
    """Compact, stable JSON for storage."""
    return json.dumps(document, separators=(",", ":"), sort_keys=True)
