"""A msgraph-sdk GraphServiceClient pointed at `graph_url`, trusting `ca_bundle`, with a bounded retry budget.

msgraph-sdk's RetryHandler (kiota) honours Retry-After on 429/503/504 but has no bound on the total wait (each
delay up to 180 s, up to 10 retries); without Retry-After it waits `0.5 * 2**(n-1)` s plus up to 1 s of jitter,
capped at 120 s (kiota_http/middleware/retry_handler.py). `BoundedRetryHandler` keeps kiota's loop and changes:
- without Retry-After (Graph's 429s do not always carry one), capped exponential backoff with jitter of our own:
  `backoff_base_s * 2**n`, at most `BACKOFF_CAP_S`, scaled by a random factor in [0.5, 1] so that many workers
  throttled together do not come back together;
- 500 and 502 are retried too (Graph answers UnknownError there, and it passes);
- when the next delay would take the total slept for one request past `max_total_wait_s`, it stops retrying
  and hands the answer back, which becomes a transient TenantError (the Durable activity's retry policy takes
  over from there).
"""

from __future__ import annotations

import random
import ssl
from typing import Any
from urllib.parse import urlsplit

import httpx
from azure.core.credentials_async import AsyncTokenCredential
from kiota_authentication_azure.azure_identity_authentication_provider import AzureIdentityAuthenticationProvider
from kiota_http.kiota_client_factory import KiotaClientFactory
from kiota_http.middleware import RetryHandler
from kiota_http.middleware.options import RetryHandlerOption
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.graph_request_adapter import options as msgraph_default_options
from msgraph_core import GraphClientFactory
from msgraph_core.middleware import GraphTelemetryHandler
from msgraph_core.middleware.options import GraphTelemetryHandlerOption

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
_SPENT = "pushproxy.retry_wait_s"


BACKOFF_CAP_S = 30.0
RETRY_STATUS = {429, 500, 502, 503, 504}


class BoundedRetryHandler(RetryHandler):
    """kiota's RetryHandler with jittered backoff when there is no Retry-After and a cap on the total wait."""

    def __init__(self, options: RetryHandlerOption, max_total_wait_s: float, backoff_base_s: float = 1.0) -> None:
        super().__init__(options)
        self.max_total_wait_s = max_total_wait_s
        self.backoff_base_s = backoff_base_s
        self.retry_on_status_codes = set(RETRY_STATUS)

    def get_delay_time(
        self, retry_count: int, response: httpx.Response | None = None, delay: float = RetryHandlerOption.DEFAULT_DELAY
    ) -> float:
        if response is None:
            return super().get_delay_time(retry_count, response, delay)
        retry_after = self._get_retry_after(response)
        if retry_after:
            wait = retry_after
        else:
            wait = min(BACKOFF_CAP_S, self.backoff_base_s * 2**retry_count) * random.uniform(0.5, 1.0)
        # Only retryable answers count against the budget (get_delay_time is asked on every response).
        if response.status_code not in self.retry_on_status_codes:
            return wait
        extensions = response.request.extensions
        spent = float(extensions.get(_SPENT, 0.0))
        if spent + wait > self.max_total_wait_s:
            return RetryHandlerOption.MAX_DELAY  # the handler does not retry at or above MAX_DELAY
        extensions[_SPENT] = spent + wait
        return wait


def build_graph_client(
    credential: AsyncTokenCredential,
    graph_url: str,
    *,
    ca_bundle: str | None = None,
    max_retries: int = 5,
    max_total_wait_s: float = 60.0,
    timeout_s: float = 30.0,
    backoff_base_s: float = 1.0,
) -> tuple[GraphServiceClient, httpx.AsyncClient]:
    """The Graph client and its httpx client (close the latter when done)."""
    verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=ca_bundle) if ca_bundle else True
    base_url = graph_url.rstrip("/") + "/v1.0"
    http = httpx.AsyncClient(verify=verify, timeout=httpx.Timeout(timeout_s), base_url=base_url)
    options: dict[str, Any] = dict(msgraph_default_options)
    retry_option = RetryHandlerOption(delay=0.0, max_retries=max_retries)
    options[RetryHandlerOption.get_key()] = retry_option
    middleware = [
        BoundedRetryHandler(retry_option, max_total_wait_s, backoff_base_s) if isinstance(m, RetryHandler) else m
        for m in KiotaClientFactory.get_default_middleware(options)
    ]
    telemetry = options.get(GraphTelemetryHandlerOption.get_key())
    middleware.append(GraphTelemetryHandler(options=telemetry) if telemetry else GraphTelemetryHandler())
    http = GraphClientFactory.create_with_custom_middleware(middleware, client=http)
    host = urlsplit(graph_url).hostname or "graph.microsoft.com"
    # The token is always for Microsoft Graph; allowed_hosts says where it may be sent.
    auth = AzureIdentityAuthenticationProvider(credential, scopes=[GRAPH_SCOPE], allowed_hosts=[host])
    adapter = GraphRequestAdapter(auth, client=http)
    adapter.base_url = base_url
    return GraphServiceClient(request_adapter=adapter), http
