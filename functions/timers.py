"""The verification timer: starts fleet verification as a singleton on the schedule in PUSHPROXY_VERIFY_SCHEDULE
(NCRONTAB, six fields, daily by default), as `POST /api/verifications` does on demand."""

from __future__ import annotations

import logging

import azure.durable_functions as df
import azure.functions as func

from pushproxy.api.durable import VERIFICATION_INSTANCE_ID, start_singleton, verification_input

bp = df.Blueprint()
log = logging.getLogger("pushproxy.timers")


@bp.timer_trigger(schedule="%PUSHPROXY_VERIFY_SCHEDULE%", arg_name="timer", run_on_startup=False)
@bp.durable_client_input(client_name="client")
async def verification_timer(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    """Start a verification unless one still runs (a slow run is never doubled by the next tick)."""
    if await start_singleton(client, "verification", VERIFICATION_INSTANCE_ID, verification_input(None)):
        log.info("verification started by the timer%s", " (past due)" if timer.past_due else "")
    else:
        log.info("verification timer: the previous verification is still running; not starting another")
