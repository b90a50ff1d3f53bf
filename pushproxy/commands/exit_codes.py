"""The exit codes of every `pushproxy` command: distinct, so scripts, cron and CI can branch on them."""

from __future__ import annotations

DONE = 0  # the onboarding is done (a dry run: nothing blocks), the command did what it was asked
FAILED = 1  # the onboarding failed, or Exchange / Graph / the host refused the command
BAD_INPUT = 2  # a bad option, spec field or secret reference: nothing was changed (argparse's own code too)
BLOCKED = 3  # the plan is blocked: a report, and no change (a dry run and a real run alike)
REJECTED = 4  # a person rejected the changes, or the approval timed out: nothing more changes
UNHEALTHY = 5  # `verify --fail-on`: a tenant is drifting or failing at or above the threshold
STILL_RUNNING = 6  # `--timeout` passed while the onboarding still runs: the same command continues it
INTERRUPTED = 130  # Ctrl-C: the same command continues the onboarding

# outcome of an onboarding report -> exit code
OUTCOMES = {"done": DONE, "blocked": BLOCKED, "rejected": REJECTED, "timed_out": REJECTED, "failed": FAILED}

EPILOG = """exit codes:
  0  done (a dry run: nothing blocks)
  1  failed: the onboarding failed, or Exchange, Graph or the host refused
  2  bad input: an option, spec field or secret reference is wrong; nothing was changed
  3  blocked: the plan has blockers; nothing was changed
  4  rejected, or the approval timed out; nothing more was changed
  5  verify --fail-on: a tenant is drifting or failing
  6  --timeout passed while the onboarding still runs; the same command continues it
  130 interrupted (Ctrl-C); the same command continues the onboarding"""


def for_outcome(outcome: object) -> int:
    """The exit code of an onboarding that ended with this report outcome."""
    return OUTCOMES.get(str(outcome), FAILED)
