"""Each action kind the SDK emits, run on the local host, with the outputs and history shapes of DURABLE_PROTOCOL.md."""

from __future__ import annotations

import pytest

from pushproxy.errors import SpecError
from pushproxy.local import InstanceAlreadyRunning, LocalHost, UnknownOrchestrator
from tests.local.conftest import FakeClock, names


def status_of(host: LocalHost, instance_id: str) -> str:
    return host.get_status(instance_id).runtime_status.value


def test_a_sequence_of_sync_and_async_activities_completes_in_order(host: LocalHost) -> None:
    iid = host.start_new("sequence", "seq-1")
    assert status_of(host, iid) == "Pending"
    host.run_until_idle()
    status = host.get_status(iid)
    assert status.runtime_status.value == "Completed"
    assert status.output == ["Hello Tokyo!", {"greeting": "Hello Seattle!"}, "Hello London!"]
    hist = status.history
    assert names(hist) == ["ExecutionStarted"] + ["TaskScheduled", "TaskCompleted"] * 3 + ["ExecutionCompleted"]
    scheduled = [e for e in hist if e["EventType"] == "TaskScheduled"]
    assert [(e["EventId"], e["Name"], e["Input"]) for e in scheduled] == [
        (0, "hello", '"Tokyo"'),
        (1, "hello_async", '"Seattle"'),
        (2, "hello", '"London"'),
    ]
    assert [e["TaskScheduledId"] for e in hist if e["EventType"] == "TaskCompleted"] == [0, 1, 2]
    # The first episode opens with OrchestratorStarted then ExecutionStarted, as the SDK requires.
    assert [e["EventType"] for e in hist[:2]] == ["OrchestratorStarted", "ExecutionStarted"]
    assert hist[1]["Version"] == "" and hist[1]["OrchestrationInstance"]["InstanceId"] == iid


def test_fan_out_fan_in_returns_results_in_child_order(host: LocalHost) -> None:
    iid = host.start_new("fan_out", client_input=20)
    host.run_until_idle()
    status = host.get_status(iid)
    assert status.output == sum(2 * i for i in range(20))
    ids = [e["EventId"] for e in status.history if e["EventType"] == "TaskScheduled"]
    assert ids == list(range(20))


def test_retry_runs_a_timer_between_attempts(host: LocalHost, clock: FakeClock) -> None:
    iid = host.start_new("with_retry", client_input={"key": "retry-once", "fail": 1, "attempts": 3})
    host.run_until_idle()
    assert status_of(host, iid) == "Running"  # waiting on the 5 s retry timer
    clock.advance(seconds=6)
    host.run_until_idle()
    status = host.get_status(iid)
    assert status.output == "ok on attempt 2"
    assert names(status.history) == [
        "ExecutionStarted",
        "TaskScheduled",
        "TaskFailed",
        "TimerCreated",
        "TimerFired",
        "TaskScheduled",
        "TaskCompleted",
        "ExecutionCompleted",
    ]
    timer = next(e for e in status.history if e["EventType"] == "TimerCreated")
    assert timer["EventId"] == 1
    second = [e for e in status.history if e["EventType"] == "TaskScheduled"][1]
    assert second["EventId"] == 2


def test_retry_exhausted_waits_one_extra_timer_then_raises_into_user_code(host: LocalHost, clock: FakeClock) -> None:
    iid = host.start_new("with_retry", client_input={"key": "retry-never", "fail": 99, "attempts": 2})
    for _ in range(3):
        host.run_until_idle()
        clock.advance(seconds=6)
    status = host.get_status(iid)
    assert status.runtime_status.value == "Completed"
    assert status.output["gave_up"].startswith("Activity function 'flaky' failed: transient failure #2")
    assert names(status.history) == [
        "ExecutionStarted",
        "TaskScheduled",
        "TaskFailed",
        "TimerCreated",
        "TimerFired",
        "TaskScheduled",
        "TaskFailed",
        "TimerCreated",  # the extra timer DTFx waits for after the last attempt
        "TimerFired",
        "ExecutionCompleted",
    ]


def test_event_beats_the_timer_and_the_cancelled_timer_is_dropped(host: LocalHost, clock: FakeClock) -> None:
    iid = host.start_new("approval")
    host.run_until_idle()
    status = host.get_status(iid)
    assert status.runtime_status.value == "Running"
    assert status.custom_status == {"phase": "awaiting_approval"}
    host.raise_event(iid, "Approval", {"approved": True, "by": "alice"})
    host.run_until_idle()
    status = host.get_status(iid)
    assert status.output == {"decision": {"approved": True, "by": "alice"}}
    assert status.custom_status == {"phase": "approved"}
    assert names(status.history) == ["ExecutionStarted", "TimerCreated", "EventRaised", "ExecutionCompleted"]
    assert host.next_due() is None  # the 1 h timer was cancelled, nothing left to fire


def test_timer_wins_when_nobody_answers(host: LocalHost, clock: FakeClock) -> None:
    iid = host.start_new("approval")
    host.run_until_idle()
    clock.advance(minutes=59)
    host.run_until_idle()
    assert status_of(host, iid) == "Running"
    clock.advance(minutes=1)
    host.run_until_idle()
    status = host.get_status(iid)
    assert status.output == {"decision": "timed-out"}
    fired = next(e for e in status.history if e["EventType"] == "TimerFired")
    assert fired["TimerId"] == 0


def test_an_event_raised_before_anyone_waits_is_kept(host: LocalHost) -> None:
    iid = host.start_new("early_event")
    host.raise_event(iid, "Go", {"n": 1})
    host.run_until_idle()
    assert host.get_status(iid).output == ["Hello first!", {"n": 1}]


def test_sub_orchestrations_with_and_without_retry(host: LocalHost, clock: FakeClock) -> None:
    iid = host.start_new("parent", "parent-1")
    for _ in range(4):
        host.run_until_idle()
        clock.advance(seconds=2)
    status = host.get_status(iid)
    assert status.runtime_status.value == "Completed", status.output
    assert status.output["a"] == 10 and status.output["b"] == 12
    assert "child refuses -1" in status.output["failure"]
    created = [e for e in status.history if e["EventType"] == "SubOrchestrationInstanceCreated"]
    assert created[0]["InstanceId"] == "child-of-parent-1"
    # An anonymous child is named "<ExecutionId>:<task id>", as DTFx does.
    execution_id = status.history[1]["OrchestrationInstance"]["ExecutionId"]
    assert created[1]["InstanceId"] == f"{execution_id}:1"
    assert len(created) == 4  # a, b, then the retried child twice (two attempts)
    child = host.get_status("child-of-parent-1")
    assert child.output == 10 and child.runtime_status.value == "Completed"


def test_continue_as_new_starts_a_fresh_history(host: LocalHost) -> None:
    iid = host.start_new("counter", client_input=0)
    host.run_until_idle()
    status = host.get_status(iid)
    assert status.runtime_status.value == "Completed"
    assert status.output == 6
    assert status.input_ == 3
    assert names(status.history) == ["ExecutionStarted", "TaskScheduled", "TaskCompleted", "ExecutionCompleted"]


def test_orchestrator_exception_fails_the_instance_with_the_extensions_message(host: LocalHost) -> None:
    iid = host.start_new("failing")
    host.run_until_idle()
    status = host.get_status(iid)
    assert status.runtime_status.value == "Failed"
    assert status.output == "Orchestrator function 'failing' failed: the orchestrator gave up"
    last = [e for e in status.history if e["EventType"] == "ExecutionCompleted"][-1]
    assert last["OrchestrationStatus"] == "Failed"


def test_activity_failure_reaches_user_code_as_the_extension_words_it(host: LocalHost) -> None:
    iid = host.start_new("catches")
    host.run_until_idle()
    output = host.get_status(iid).output
    assert output == "Activity function 'flaky' failed: transient failure #1 \n RuntimeError: transient failure #1"


@pytest.mark.parametrize(("orchestrator", "words"), [("uses_entity", "entities"), ("uses_http", "CallHttp")])
def test_unsupported_actions_fail_the_instance_and_say_so(host: LocalHost, orchestrator: str, words: str) -> None:
    iid = host.start_new(orchestrator)
    host.run_until_idle()
    status = host.get_status(iid)
    assert status.runtime_status.value == "Failed"
    assert words in status.output and "not supported by the local host" in status.output


def test_custom_status_survives_between_episodes(host: LocalHost) -> None:
    iid = host.start_new("approval")
    host.run_until_idle()
    host.run_until_idle()
    assert host.get_status(iid).custom_status == {"phase": "awaiting_approval"}


def test_terminate_ends_a_running_instance(host: LocalHost) -> None:
    iid = host.start_new("approval")
    host.run_until_idle()
    host.terminate(iid, "no longer needed")
    status = host.get_status(iid)
    assert status.runtime_status.value == "Terminated"
    assert status.output == "no longer needed"
    assert host.next_due() is None


def test_unknown_orchestrator_is_a_clear_error(host: LocalHost) -> None:
    with pytest.raises(UnknownOrchestrator, match="orchestration_function_name: no orchestrator named 'nope'"):
        host.start_new("nope")


def test_reusing_the_id_of_a_running_instance_is_refused(host: LocalHost) -> None:
    host.start_new("approval", "same-id")
    with pytest.raises(InstanceAlreadyRunning, match="instance_id: .*'same-id'.* Pending"):
        host.start_new("approval", "same-id")


def test_a_finished_instance_id_can_be_reused(host: LocalHost) -> None:
    host.start_new("sequence", "again")
    host.run_until_idle()
    host.start_new("fan_out", "again", 3)
    host.run_until_idle()
    assert host.get_status("again").output == 6


def test_bad_instance_ids_name_the_field(host: LocalHost) -> None:
    with pytest.raises(SpecError, match="instance_id"):
        host.start_new("sequence", "a/b")


def test_unknown_instance_gives_a_falsy_status(host: LocalHost) -> None:
    assert not host.get_status("missing")


def test_an_in_memory_database_is_refused() -> None:
    from tests.local.apps.sample_app import app

    with pytest.raises(SpecError, match="database: must be a file path"):
        LocalHost(app, database=":memory:")


def test_an_app_the_python_worker_would_refuse_is_refused() -> None:
    import azure.durable_functions as df

    from pushproxy.local import LocalHostError

    bad = df.DFApp()

    @bad.orchestration_trigger(context_name="ctx")  # the SDK's handle() takes `context`
    def orchestrator(ctx: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
        yield ctx.call_activity("x", 1)

    # The worker's own reason (its Registry checks `context` first): the SDK's wrapper takes `context`, which is
    # then neither the binding `ctx` nor an azure.functions.Context.
    with pytest.raises(LocalHostError, match=r"function 'orchestrator' would not load in Azure Functions: cannot load "
                       r"the orchestrator function: the \"context\" parameter is expected to be of type azure.functions.Context"):
        LocalHost(bad, database="unused.sqlite")


def test_events_and_terminations_for_missing_or_finished_instances_are_refused_clearly(host: LocalHost) -> None:
    from pushproxy.local import InstanceNotFound, InstanceNotRunning

    with pytest.raises(InstanceNotFound, match="instance_id: no orchestration instance 'ghost'"):
        host.raise_event("ghost", "Approval", 1)
    iid = host.start_new("sequence")
    host.run_until_idle()
    with pytest.raises(InstanceNotRunning, match="is Completed, not running"):
        host.raise_event(iid, "Approval", 1)
    with pytest.raises(InstanceNotRunning):
        host.terminate(iid, "too late")


def test_inputs_that_are_not_json_name_the_field(host: LocalHost) -> None:
    with pytest.raises(SpecError, match="client_input: is not JSON-serializable"):
        host.start_new("sequence", client_input=object())
    iid = host.start_new("approval")
    with pytest.raises(SpecError, match="event_data: is not JSON-serializable"):
        host.raise_event(iid, "Approval", object())
