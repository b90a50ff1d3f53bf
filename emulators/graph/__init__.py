"""A Microsoft Graph and Entra ID stand-in: real protocol, a directory behind it. Imports nothing of pushproxy."""
