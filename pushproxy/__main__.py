import os
import sys

from pushproxy.cli import main
from pushproxy.commands.exit_codes import INTERRUPTED

code = main()
if code == INTERRUPTED:
    # Interrupted (Ctrl-C): the work in flight dies with the process and the same command redoes it, so skip the
    # interpreter's teardown, where half-stopped event loops and threads print their dying words ("Exception
    # ignored in BaseEventLoop.__del__ ...") after our one line.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
raise SystemExit(code)
