"""Generated secrets may start with "-": the stand-ins must still take them from the command line."""

from __future__ import annotations

from tests.support.exchange_standin import start_exchange_standin


def test_a_password_that_starts_with_a_dash_is_taken_as_the_password() -> None:
    from pypsrp.powershell import PowerShell, RunspacePool
    from pypsrp.wsman import WSMan

    with start_exchange_standin(password="-starts-with-a-dash") as standin:
        wsman = WSMan("127.0.0.1", port=standin.port, path="PowerShell", ssl=False, auth="basic",
                      username=standin.user, password="-starts-with-a-dash", encryption="never")
        with RunspacePool(wsman, configuration_name="Microsoft.Exchange") as pool:
            ps = PowerShell(pool).add_cmdlet("Get-PushNotificationApp")
            ps.invoke()
            assert not ps.had_errors
