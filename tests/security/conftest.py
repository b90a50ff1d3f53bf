"""The security tests use the end-to-end world: both stand-ins over real sockets, a local host database per test."""

from tests.e2e.conftest import standins, world  # noqa: F401  # fixtures, re-exported for this folder
