"""The Auth certificate's renewal, as one durable workflow per organisation that runs for weeks.

    discover + plan (pushproxy.rotation) -> approve the plan (steps 1-4 as one) -> re-check
      renew:     create -> import on every other Mailbox server -> upload the key -> stage (effective date D)
                 -> durable timer until D -> re-check -> publish (no new approval while the state matches)
                 -> restart MSExchangeServiceHost and the OWA/ECP pools (noted if it fails) -> probe
      emergency: create -> import -> upload -> make current at once -> restart -> probe
      repair:    import the current certificate where it is missing
    -> timer (retire_after_days) -> approve the retirement -> -ClearPreviousCertificate
    -> (timer until the old certificate expires, unless a person approved earlier removal) -> remove our old key

Orchestrators only decide: every read and change is an activity; the clock is `context.current_utc_datetime`,
handed to each activity as `now`. Someone else staging or publishing while we wait is not fought: the workflow
discovers again and re-plans. Custom status always says the phase, the next date and what is awaited.

Versioning (docs/deploy.md): an instance keeps the orchestration version it started with (`context.version`,
from host.json's defaultVersion, recorded in ExecutionStarted). This code is version "2"; an instance of version
"1" or none (started before versioning) replays on the branch kept for it below until it ends.
"""

from __future__ import annotations

import json
import re
from collections.abc import Generator
from datetime import datetime, timedelta
from typing import Any

import azure.durable_functions as df

from pushproxy.activity_names import Activity, Orchestrator
from pushproxy.approvals import ApprovalRules, Awaiting, await_decision, open_wait
from pushproxy.exactly_once import operation_id
from pushproxy.hybrid import tenant_with_hybrid_apps
from pushproxy.notifications import events
from pushproxy.notifications.workflow import notify
from pushproxy.outcome import message
from pushproxy.rotation import EXPIRED_CERTIFICATE_ADVICE, Facts, RotationPlan, plan_rotation, restage_date, where_is
from pushproxy.spec import TenantSpec
from pushproxy.timers import sleep_until
from pushproxy.workflow import RetryPolicy, call_step, call_steps, short

bp = df.Blueprint()
# Words in a failure that point at the Auth certificate signing remote PowerShell payloads (assumption: Exchange's
# exact text when serialization signing fails is not documented; these are the words it is made of).
_SIGNING_HINT = re.compile(r"serializ|signing|signature|auth certificate|certificate.*(expired|not valid)", re.I)

# The orchestration version this code writes (host.json extensions.durableTask.defaultVersion).
VERSION = "2"
# Re-plans in one run (the state changed under us): a state that keeps changing ends the run instead.
MAX_ROUNDS = 5

Steps = Generator[Any, Any, Any]


class Ended(Exception):
    def __init__(self, phase: str, error: str | None = None) -> None:
        super().__init__(phase, error)
        self.phase = phase
        self.error = error


class Replan(Exception):
    """The state changed (someone else staged or published): discover and plan again."""


@bp.orchestration_trigger(context_name="context", orchestration=Orchestrator.ROTATION)
def rotation(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    """Renew one organisation's Auth certificate, from the plan to the retired old key."""
    return (yield from run_rotation(RotationRun(context)))


def run_rotation(run: RotationRun) -> Generator[Any, Any, dict[str, Any]]:
    """One run to its end, whatever ends it. A later version's orchestrator (docs/deploy.md) hands its own
    RotationRun subclass here, under the same orchestration name."""
    try:
        phase = yield from run.main()
        error = None
    except Ended as end:
        phase, error = end.phase, end.error
    except Exception as exc:  # a bug in deciding must not freeze the status
        phase, error = "failed", f"internal error: {type(exc).__name__}: {short(exc)}"
    return (yield from run.record(phase, error, final=True))


class RotationRun:
    """One rotation's decisions and status. Deterministic: reads only the context and activity outcomes."""

    def __init__(self, context: df.DurableOrchestrationContext) -> None:
        request = context.get_input() or {}
        if isinstance(request, str):
            request = json.loads(request)
        self.context = context
        self.spec = TenantSpec.from_dict(request.get("spec"))
        self.spec_dict = self.spec.to_dict()
        self.force = bool(request.get("force"))
        self.retry = RetryPolicy(self.spec.retry.first_retry_interval_s, self.spec.retry.max_attempts)
        # Who may decide comes from the run's input (the operator's approvers, who started it), never from an event.
        self.approval_rules = ApprovalRules(requester=request.get("requested_by"),
                                            approvers=tuple(self.spec.approval.approvers),
                                            policy=self.spec.approval.policy)
        self.approval_round = 0
        # The version this instance started with (None: before versioning; treated as ours, "1" had no branch).
        self.version = getattr(context, "version", None) or request.get("version") or VERSION
        self.status: dict[str, Any] = {
            "workflow": "rotation",
            "version": self.version,
            "tenant": self.spec.tenant_domain,
            "phase": "starting",
            "mode": None,
            "reason": None,
            "plan": None,
            "next_date": None,
            "waiting_for": None,
            "awaiting": None,
            "new_certificate": None,
            "old_certificate": None,
            "changes": [],
            "approvals": [],
            "restarts": [],
            "probe": None,
            "notes": [],
            "error": None,
            "requested_by": request.get("requested_by"),
            "remediation": bool(request.get("remediation")),
            "started_at": context.current_utc_datetime.isoformat(),
            "finished_at": None,
        }

    # -- status --------------------------------------------------------------------------------------------

    @property
    def now(self) -> datetime:
        return self.context.current_utc_datetime

    def publish(self, phase: str | None = None, **fields: Any) -> None:
        if phase:
            self.status["phase"] = phase
        self.status.update(fields)
        self.context.set_custom_status(self.status)

    def note(self, text: str) -> None:
        self.status["notes"] = (self.status["notes"] + [text])[-30:]

    def payload(self, **extra: Any) -> dict[str, Any]:
        return {"spec": self.spec_dict, "now": self.now.isoformat(), **extra}

    def step(self, kind: str, payload: dict[str, Any], group: str = "on_premises", *, required: bool = True) -> Steps:
        """One activity, recorded as a change (kind, outcome, result) for the status and the registry."""
        self.publish(current=kind)
        outcome = yield from call_step(self.context, kind, payload, self.retry)
        entry: dict[str, Any] = {"kind": kind, "group": group, "at": self.now.isoformat(),
                                 "details": _public({k: v for k, v in payload.items() if k not in ("spec", "now")})}
        if outcome["ok"]:
            entry.update(outcome=outcome["action"], result=_public(outcome["result"]))
        else:
            entry.update(outcome="failed", error=message(outcome))
        self.status["changes"].append(entry)
        self.publish(current=None)
        if not outcome["ok"] and required:
            if outcome["error"].get("type") == "StateChanged":
                self.note(f"{kind}: {message(outcome)}; planning again")
                raise Replan()
            advice = f" {EXPIRED_CERTIFICATE_ADVICE}" if self.status["mode"] == "emergency" and group == "on_premises" else ""
            raise Ended("failed", f"{kind} failed: {message(outcome)}{advice}")
        return outcome

    # -- the run -------------------------------------------------------------------------------------------

    def main(self) -> Steps:
        for _round in range(MAX_ROUNDS):
            try:
                return (yield from self.one_round())
            except Replan:
                continue
        raise Ended("failed", "the Auth configuration kept changing under the rotation; a person should look")

    def discover_and_plan(self) -> Generator[Any, Any, tuple[dict[str, Any], dict[str, Any], RotationPlan]]:
        self.publish("discovering")
        found = yield from call_steps(
            self.context, [(Activity.DISCOVER_EXCHANGE, {"spec": self.spec_dict}),
                           (Activity.DISCOVER_TENANT, {"spec": self.spec_dict}),
                           (Activity.READ_KEY_POLICY, {"spec": self.spec_dict})], self.retry)
        policy = found.pop()
        limit = policy["result"].get("max_days") if policy["ok"] else None
        unread = None
        if not policy["ok"] or not policy["result"].get("readable"):
            unread = str(message(policy) if not policy["ok"] else policy["result"].get("error"))
            note = f"the tenant's key-lifetime policy could not be read ({unread}); grant Policy.Read.All to check it first"
            # Once per run: each discovery's refusal carries its own request-id, so compare what comes before it.
            if not any(n.startswith("the tenant's key-lifetime policy could not be read") for n in self.status["notes"]):
                self.note(note)
        for outcome in found:
            if not outcome["ok"]:
                # Remote PowerShell refusing us while the Auth certificate is expired is the case the admin must
                # fix on the server: say how whenever the run already knows it is expired, or Exchange hints at it.
                hint = self.status["mode"] == "emergency" or _SIGNING_HINT.search(message(outcome))
                advice = f" If the Auth certificate has expired: {EXPIRED_CERTIFICATE_ADVICE}" if hint else ""
                raise Ended("failed", f"discovery failed: {message(outcome)}{advice}")
        exchange, tenant = found[0]["result"], found[1]["result"]
        # The dedicated hybrid app Exchange names, read in the tenant (issue 16): keys there count too.
        tenant = yield from tenant_with_hybrid_apps(self.context, exchange, tenant, self.spec_dict, self.retry)
        plan = plan_rotation(exchange, tenant, self.spec, self.now, key_lifetime_limit_days=limit,
                             key_policy_unread=unread,
                             force=self.force and not self.status["new_certificate"])
        return exchange, tenant, plan

    def one_round(self) -> Steps:
        exchange, tenant, plan = yield from self.discover_and_plan()
        # read_at: when the state behind this plan (and its hash) was read, for whoever decides on it.
        self.publish(mode=plan.mode, reason=plan.reason, plan={**plan.to_dict(), "read_at": self.now.isoformat()})
        if plan.mode == "blocked":
            raise Ended("blocked", plan.reason)
        if plan.mode == "none":
            if self.status["new_certificate"]:
                self.note(f"after the change: {plan.reason}; this rotation stops here (never fights another change)")
                return "superseded"
            return "nothing_to_do"
        # The approver sees the plan's notes too (a policy that could not be read, a lifetime made shorter).
        decision = yield from self.approval("plan", plan.state_hash, plan.summary() + [f"Note: {n}" for n in plan.notes])
        if decision["decision"] != "approve":
            raise Ended("rejected", f"the plan was rejected by {decision['approver']}: nothing changed")
        _, _, again = yield from self.discover_and_plan()
        if again.state_hash != plan.state_hash or again.mode != plan.mode:
            self.note("the state changed after approval: planning again")
            raise Replan()

        if plan.mode == "repair":
            current = str((plan.current or {}).get("thumbprint"))
            yield from self.import_to(current, plan)
            return "done"

        new = yield from self.prepare(plan)
        old = plan.current
        self.publish(old_certificate=old)
        if plan.mode == "emergency":
            self.publish("making_current")
            yield from self.step(Activity.ASSIGN_AUTH_CERTIFICATE, self.payload(thumbprint=new))
            yield from self.restart_and_probe()
        else:
            effective = datetime.fromisoformat(str(plan.effective))
            effective = yield from self.stage(new, effective, old)
            yield from self.wait_and_publish(new, effective)
        yield from self.record("published", None)
        if old:
            yield from self.retire(old)
        return "done"

    # -- steps 1-4 -----------------------------------------------------------------------------------------

    def prepare(self, plan: RotationPlan) -> Generator[Any, Any, str]:
        """Create, import on every other Mailbox server, upload the key: before Exchange can sign with it."""
        create = plan.create or {}
        self.publish("creating")
        # The change's marker (pushproxy.exactly_once): a retried create finds the certificate it made, no other.
        created = yield from self.step(Activity.CREATE_NEXT_CERTIFICATE, self.payload(
            server=create["server"], lifetime_days=create["lifetime_days"], operation=self.create_operation))
        cert = created["result"]["certificate"]
        thumbprint = str(cert["thumbprint"])
        self.publish(new_certificate={"thumbprint": thumbprint, "not_after": cert["not_after"]})
        yield from self.import_to(thumbprint, plan)
        self.publish("uploading")
        uploaded = yield from self.step(Activity.UPLOAD_TENANT_KEY, {"spec": self.spec_dict, "keys": [
            {"source": "rotation", "thumbprint": thumbprint, "der_b64": cert["der_b64"]}]}, "tenant", required=False)
        if not uploaded["ok"]:
            refused = message(uploaded)
            if uploaded["error"].get("transient"):
                # Retries used up: the key may have landed after all, so the certificate is kept for a rerun.
                raise Ended("failed", f"{Activity.UPLOAD_TENANT_KEY} failed: {refused}")
            yield from self.remove_created(thumbprint, [str(create["server"]), *plan.import_to], refused)
        return thumbprint

    @property
    def create_operation(self) -> str:
        """This run's create (pushproxy.exactly_once): its certificate carries the marker derived from it."""
        started = datetime.fromisoformat(str(self.status["started_at"]))
        return operation_id(self.context.instance_id, started, Activity.CREATE_NEXT_CERTIFICATE)

    def remove_created(self, thumbprint: str, servers: list[str], refused: str) -> Steps:
        """The tenant refused the key for good: a certificate nobody can use would stay on the servers, unstaged.
        Remove the one this run created (only it: by its marker) from every server it was put on, then end failed
        with Graph's own message. The current certificate is never touched."""
        self.publish("removing_created_certificate")
        removal = yield from self.step(Activity.REMOVE_CREATED_CERTIFICATE, self.payload(
            operation=self.create_operation, servers=list(dict.fromkeys(servers))), required=False)
        if removal["ok"]:
            gone = sorted({r["server"] for r in removal["result"].get("removed") or ()})
            done = (f"the certificate {thumbprint} this run created was removed from {', '.join(gone)}" if gone
                    else f"the certificate {thumbprint} this run created was already gone")
        else:
            done = (f"removing the certificate {thumbprint} this run created failed ({message(removal)}): remove it "
                    f"by hand (Remove-ExchangeCertificate -Thumbprint {thumbprint} -Server <each Mailbox server>)")
        self.note(done)
        raise Ended("failed", f"the tenant refused the new certificate's key: {refused}; {done}; the current "
                              "certificate stays")

    def import_to(self, thumbprint: str, plan: RotationPlan) -> Steps:
        if not plan.import_to:
            return
        self.publish("importing")
        yield from self.step(Activity.IMPORT_AUTH_CERTIFICATE, {
            "spec": self.spec_dict, "thumbprint": thumbprint,
            "change": {"kind": Activity.IMPORT_AUTH_CERTIFICATE, "details": {"from": plan.import_from, "servers": list(plan.import_to)}},
        })

    def stage(self, thumbprint: str, approved: datetime, old: dict[str, Any] | None) -> Generator[Any, Any, datetime]:
        expires = datetime.fromisoformat(old["not_after"]) if old and old.get("not_after") else None
        effective = restage_date(approved, self.now, expires)
        if effective is None:
            self.note("the approved effective date can no longer be kept 48 hours ahead before the current certificate "
                      "expires: planning again")
            raise Replan()
        if effective != approved:
            self.note(f"the approval took long: staged for {effective.isoformat()} instead of {approved.isoformat()}")
        self.publish("staging")
        staged = yield from self.step(Activity.STAGE_AUTH_CERTIFICATE, self.payload(
            thumbprint=thumbprint, effective=effective.isoformat()))
        yield from self.record("staged", None)
        return datetime.fromisoformat(str(staged["result"].get("effective") or effective.isoformat()))

    # -- steps 5-6 -----------------------------------------------------------------------------------------

    def wait_until(self, when: datetime, phase: str, waiting_for: str) -> Steps:
        self.publish(phase, next_date=when.isoformat(), waiting_for=waiting_for)
        # Weeks, as timers of at most 3 days each (pushproxy.timers: the Azure Storage provider's limit).
        yield from sleep_until(self.context, when)
        self.publish(next_date=None, waiting_for=None)

    def wait_and_publish(self, thumbprint: str, effective: datetime) -> Steps:
        yield from self.wait_until(effective, "staged", f"the effective date of {thumbprint}, then publish")
        exchange, tenant, _ = yield from self.discover_and_plan()
        where = where_is(exchange, thumbprint)
        if where == "current":
            self.note(f"{thumbprint} was already published (by Exchange or a person): not publishing again")
        elif where != "next":
            self.note(f"{thumbprint} is no longer staged ({where}): someone else changed the Auth configuration")
            raise Replan()
        else:
            facts = Facts.of(exchange, tenant)
            missing = sorted(c.server for c in facts.copies("next", thumbprint) if not c.present)
            if missing or not facts.has_key(thumbprint):
                why = (f"missing on {', '.join(missing)}" if missing else "its key is no longer on the service principal")
                decision = yield from self.approval("publish", "", [f"The staged certificate {thumbprint} is {why}: "
                                                    "put it back (import, upload) and publish it"])
                if decision["decision"] != "approve":
                    raise Ended("rejected", f"publishing was rejected by {decision['approver']}: the current certificate stays")
                plan = RotationPlan.from_dict({"tenant_domain": self.spec.tenant_domain, "mode": "renew",
                                               "import_from": facts.mailbox[0], "import_to": list(facts.mailbox[1:])})
                yield from self.import_to(thumbprint, plan)
                cert = facts.ex.next_certificate
                if cert is not None:
                    yield from self.step(Activity.UPLOAD_TENANT_KEY, {"spec": self.spec_dict, "keys": [
                        {"source": "rotation", "thumbprint": thumbprint, "der_b64": cert.der_b64}]}, "tenant")
            self.publish("publishing")
            yield from self.step(Activity.PUBLISH_AUTH_CERTIFICATE, self.payload(thumbprint=thumbprint))
        yield from self.restart_and_probe()

    def restart_and_probe(self) -> Steps:
        """The optional restarts (a failure is noted, not fatal), then the probe until it succeeds or time is up."""
        self.publish("restarting", published_at=self.now.isoformat())
        plan = self.status["plan"] or {}
        servers = [s for s in (plan.get("import_to") or [])]
        creator = (plan.get("create") or {}).get("server")
        for server in ([creator] if creator else []) + servers:
            outcome = yield from self.step(Activity.RESTART_AUTH_SERVICES, {"spec": self.spec_dict, "server": server},
                                           required=False)
            self.status["restarts"].append({"server": server, "ok": outcome["ok"],
                                            "error": None if outcome["ok"] else message(outcome)})
            if not outcome["ok"]:
                self.note(f"could not restart the Auth services on {server}: {message(outcome)} (they pick the new "
                          "certificate up within hours anyway)")
        server = plan.get("probe_server")
        if not server:
            return
        self.publish("probing")
        verification = self.spec.verification
        deadline = self.now + timedelta(seconds=verification.probe_deadline_s)
        attempts = 0
        while True:
            attempts += 1
            probe = yield from call_step(self.context, Activity.RUN_PROBE, {"spec": self.spec_dict, "server": server})
            result = probe["result"] if probe["ok"] else {"server": server, "succeeded": False, "error": message(probe)}
            self.publish(probe={**result, "attempts": attempts})
            if result.get("succeeded"):
                return
            if self.now + timedelta(seconds=verification.probe_interval_s) > deadline:
                raise Ended("failed", f"the connectivity probe did not succeed after the change ({result.get('error')}); "
                                      "the previous certificate is kept")
            yield from sleep_until(self.context, self.now + timedelta(seconds=verification.probe_interval_s))

    # -- step 7 --------------------------------------------------------------------------------------------

    def retire(self, old: dict[str, Any]) -> Steps:
        thumbprint = str(old["thumbprint"])
        not_after = datetime.fromisoformat(str(old["not_after"]))
        when = self.now + timedelta(days=self.spec.rotation.retire_after_days)
        yield from self.wait_until(when, "waiting_to_retire", f"retire_after_days, then ask to retire {thumbprint}")
        decision = yield from self.approval("retire", "", [
            f"Clear the previous Auth certificate {thumbprint} (Set-AuthConfig -ClearPreviousCertificate)",
            f"Remove our key for {thumbprint} from the Exchange Online service principal once it expired "
            f"({not_after.isoformat()}); approve with early_key_removal true to remove it now"])
        if decision["decision"] != "approve":
            raise Ended("rejected", f"retiring {thumbprint} was rejected by {decision['approver']}: it stays previous, "
                                    "its key stays on the tenant; the new certificate is current")
        self.publish("retiring")
        yield from self.step(Activity.CLEAR_PREVIOUS_CERTIFICATE, self.payload(thumbprint=thumbprint))
        early = bool(decision.get("early_key_removal"))
        if not early and self.now < not_after:
            yield from self.wait_until(not_after, "waiting_for_expiry", f"the expiry of {thumbprint}, then remove its key")
        self.publish("removing_key")
        yield from self.step(Activity.REMOVE_RETIRED_KEY, self.payload(
            thumbprint=thumbprint, not_after=not_after.isoformat(), early=early), "tenant")

    # -- approvals -----------------------------------------------------------------------------------------

    def approval(self, group: str, state_hash: str, steps: list[str]) -> Generator[Any, Any, dict[str, Any]]:
        """Wait for this group's decision, with the rules every workflow shares (pushproxy.approvals: the event
        names the group and this wait's hash; self-approval, the approver list and canonical names are checked
        here, whichever door it came through), raced against the spec's timeout. Under `approval.policy` auto it is
        granted at once, recorded as policy:auto."""
        deadline = self.now + timedelta(seconds=self.spec.approval.timeout_s)
        self.approval_round += 1
        awaiting = open_wait(group, state_hash or group, self.now, self.approval_round, deadline)
        if self.spec.approval.policy != "auto":
            # Tell the approvers (one quick activity; delivery runs in its own orchestration).
            yield from notify(self.context, events.approval_awaited(
                workflow="rotation", instance_id=self.context.instance_id,
                run_started_at=str(self.status["started_at"]), tenant=self.spec.tenant_domain, group=group,
                changes=[{"summary": step} for step in steps], state_hash=awaiting.state_hash, deadline=deadline,
                occurred_at=self.now, requested_by=self.status.get("requested_by"),
                approvers=self.spec.approval.approvers))

        def show(wait: Awaiting) -> None:
            self.publish("awaiting_approval", awaiting={**wait.to_dict(), "steps": steps})

        def ignored(text: str) -> None:
            self.note(text)
            self.publish()

        decided = yield from await_decision(self.context, awaiting, self.approval_rules, deadline=deadline,
                                            publish=show, note=ignored)
        if decided.decision == "timed_out":
            self.publish(awaiting=None)
            raise Ended("timed_out", f"nobody decided on the {group} step in time: the current certificate stays")
        decision: dict[str, Any] = {"decision": decided.decision, "approver": decided.approver,
                                    "comment": decided.comment, "early_key_removal": decided.early_key_removal}
        self.status["approvals"].append({"group": group, **decision, "time": self.now.isoformat(),
                                         "state_hash": state_hash})
        self.publish(awaiting=None)
        return decision

    # -- the end -------------------------------------------------------------------------------------------

    def record(self, phase: str, error: str | None, *, final: bool = False) -> Generator[Any, Any, dict[str, Any]]:
        """The registry gets the run so far (each step, who approved it); at the end also the final status."""
        if final:
            self.status.update(phase=phase, error=error, finished_at=self.now.isoformat(), awaiting=None,
                               next_date=None, waiting_for=None, current=None)
            self.publish()
        report = {**self.status, "outcome": phase}
        recorded = yield from call_step(self.context, Activity.RECORD_ROTATION, {
            "spec": self.spec_dict, "instance_id": self.context.instance_id, "report": report}, self.retry)
        if not recorded["ok"]:
            self.note(f"could not record the rotation in the registry: {message(recorded)}")
            self.publish()
        if final:
            changed = [str(c.get("kind")) for c in self.status.get("changes") or () if isinstance(c, dict) and c.get("kind")]
            yield from notify(self.context, events.workflow_ended(
                workflow="rotation", instance_id=self.context.instance_id,
                report={**self.status, "outcome": phase, "changed": changed}, occurred_at=self.now))
        return {**self.status, "outcome": phase}


def _public(result: dict[str, Any]) -> dict[str, Any]:
    """Keep the status and the registry small: a certificate's DER is public but large; its thumbprint names it."""
    out: dict[str, Any] = {}
    for key, value in result.items():
        if isinstance(value, dict):
            out[key] = _public(value)
        elif isinstance(value, list):
            out[key] = [_public(v) if isinstance(v, dict) else v for v in value]
        elif key not in ("der_b64", "key_b64"):
            out[key] = value
    return out

