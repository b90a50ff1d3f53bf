"""The Exchange client's public calls in one place, for call sites that read `client.enable_push_proxy(...)`:
`from pushproxy.exchange import client`. The names are the package's own (`pushproxy.exchange.__all__`), kept in
one list there.
"""

from pushproxy.exchange import *  # noqa: F403
from pushproxy.exchange import __all__  # noqa: F401
