"""The verification timer: starts fleet verification as a singleton on the schedule in PUSHPROXY_VERIFY_SCHEDULE
(NCRONTAB, six fields, daily by default), as `POST /api/verifications` does on demand."""

from __future__ import annotations

import logging

import azure.durable_functions as df
import azure.functions as func

from pushproxy.api.durable import start_verification, verification_input

bp = df.Blueprint()
log = logging.getLogger("pushproxy.timers")


@bp.timer_trigger(schedule="%PUSHPROXY_VERIFY_SCHEDULE%", arg_name="timer", run_on_startup=False)
@bp.durable_client_input(client_name="client")
async def verification_timer(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    """Start a verification unless one still runs (a slow run is never doubled by the next tick)."""
    started, instance_id = await start_verification(client, verification_input(None))
    if started:
        log.info("verification %s started by the timer%s", instance_id, " (past due)" if timer.past_due else "")
    else:
        log.info("verification timer: %s is still running; not starting another", instance_id)
