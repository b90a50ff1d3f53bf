"""Notifications: tell people when they must act (an approval awaited), how a workflow ended, and what the fleet's
verification found (drift, an Auth certificate nearing expiry, a key removed from the service principal).

Pure core (no I/O, importable by orchestrators): `events` (the event schema and one builder per event type),
`fleet_events` (which verification results are news), `channels` (settings -> validated channels and their
filters), `signing` (HMAC-SHA256 of a webhook body), `teams` (the Adaptive Card), `delivery` (the retry policy),
`workflow` (the one helper orchestrators `yield from`). Adapters: `store` (the registry's record of every
delivery), `send` (one HTTPS POST). The activities and the delivery orchestration are in functions/ and
orchestrators/.
"""
