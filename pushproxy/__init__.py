"""pushproxy: connect on-premises Exchange to the Office 365 push-notification proxy, and keep it connected."""

__version__ = "0.1.0"
