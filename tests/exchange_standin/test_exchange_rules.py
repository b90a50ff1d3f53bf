"""One test per rule of README.md's behaviour table: the stand-in is at least as strict as Exchange.

Each goes through the real pypsrp client over a socket. One transport (Basic over TLS) is enough here: the
transports themselves are covered by test_transport.py, and these rules live behind them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
from pypsrp.exceptions import WSManFaultError
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.serializer import ObjectMeta
from pypsrp.wsman import WSMan

from tests.exchange_standin.conftest import exchange_pool, run
from tests.support.exchange_standin import StandIn, start_exchange_standin

TENANT_ID = "6f1d0b62-8d2b-4c4e-9b1e-2a3f4c5d6e7f"
ACS = "https://accounts.accesscontrol.windows.net"
METADATA = f"{ACS}/metadata/json/1/?realm=fabrikam.com"
PROBE = "PushNotifications.Proxy\\PushNotificationsEnterpriseConnectivityProbe"
AUTH_SUBJECT = "CN=Microsoft Exchange Server Auth Certificate"


@pytest.fixture(scope="module")
def standin() -> Iterator[StandIn]:
    with start_exchange_standin(tls=True) as s:
        s.initial = s.state()  # type: ignore[attr-defined]
        yield s


def _reset(standin: StandIn, **org: Any) -> None:
    """The default organisation, with `org` fields replaced (e.g. servers, session_server)."""
    state = standin.initial  # type: ignore[attr-defined]
    body = {**state["organizations"]["fabrikam.com"], **org}
    standin.put_state({"default_organization": "fabrikam.com", "organizations": {"fabrikam.com": body}})
    standin.clear_faults()


@pytest.fixture
def pool(standin: StandIn) -> Iterator[RunspacePool]:
    _reset(standin)
    with exchange_pool(standin, "basic") as p:
        yield p


def _servers(*specs: tuple[str, str, bool]) -> list[dict[str, Any]]:
    return [{"name": n, "version": "15.2.1748.10", "site": site, "outbound_internet": out} for n, site, out in specs]


THREE = _servers(("FABRIKAM-EX1", "Site-A", True), ("FABRIKAM-EX2", "Site-B", True), ("FABRIKAM-EX3", "Site-A", True))


def _cert(pool: RunspacePool, server: str, exportable: bool = True) -> str:
    ps = run(pool, "New-ExchangeCertificate", KeySize=2048, PrivateKeyExportable=exportable, SubjectName=AUTH_SUBJECT,
             FriendlyName="Auth", DomainName=[], Services="None", Server=server)
    assert not ps.streams.error, [str(e) for e in ps.streams.error]
    return hashlib.sha1(ps.output[0].adapted_properties["RawData"]).hexdigest().upper()  # noqa: S324


def _on(pool: RunspacePool, thumbprint: str, server: str) -> bool:
    return bool(run(pool, "Get-ExchangeCertificate", Thumbprint=thumbprint, Server=server).output)


def _config(pool: RunspacePool) -> dict[str, Any]:
    return dict(run(pool, "Get-AuthConfig").output[0].adapted_properties)


def _error(ps: PowerShell) -> str:
    return " ".join(str(e) for e in ps.streams.error)


def _later(**delta: float) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(**delta)).isoformat()


# ---- the default organisation ---------------------------------------------------------------------------------


def test_the_default_organisation_has_two_mailbox_servers_in_two_ad_sites(standin: StandIn) -> None:
    servers = standin.initial["organizations"]["fabrikam.com"]["servers"]  # type: ignore[attr-defined]
    assert [s["roles"] for s in servers] == [["Mailbox", "ClientAccess"]] * 2
    assert len({s["site"] for s in servers}) == 2


# ---- Set-AuthConfig -----------------------------------------------------------------------------------------------


def test_certificate_thumbprint_is_checked_in_the_session_servers_store(standin: StandIn, pool: RunspacePool) -> None:
    thumbprint = _cert(pool, "FABRIKAM-EX2")
    ps = run(pool, "Set-AuthConfig", "Force", CertificateThumbprint=thumbprint)  # the session runs on EX1
    assert ps.had_errors and "ErrorThumbprintNotFound" in _error(ps) and "FABRIKAM-EX1" in _error(ps)
    state = standin.state()
    state["organizations"]["fabrikam.com"]["session_server"] = "FABRIKAM-EX2"
    standin.put_state(state)
    assert not run(pool, "Set-AuthConfig", "Force", CertificateThumbprint=thumbprint).had_errors
    assert _config(pool)["CurrentCertificateThumbprint"] == thumbprint


def test_certificate_thumbprint_must_be_valid_now(standin: StandIn) -> None:
    _reset(standin, certificates=[
        {"thumbprint": "@old", "not_before": "2015-01-01T00:00:00Z", "not_after": "2020-01-01T00:00:00Z"}],
        auth_config={})
    expired = standin.org_state()["certificates"][0]["thumbprint"]
    with exchange_pool(standin, "basic") as pool:
        ps = run(pool, "Set-AuthConfig", "Force", CertificateThumbprint=expired)
        assert ps.had_errors and "ErrorCertificateNotValid" in _error(ps)


def test_certificate_thumbprint_must_be_exportable_unless_force(pool: RunspacePool) -> None:
    thumbprint = _cert(pool, "FABRIKAM-EX1", exportable=False)
    ps = run(pool, "Set-AuthConfig", CertificateThumbprint=thumbprint, Confirm=False)
    assert ps.had_errors and "ErrorCertificateNotExportable" in _error(ps)
    assert not run(pool, "Set-AuthConfig", "Force", CertificateThumbprint=thumbprint).had_errors


def test_staging_asks_under_48_hours_and_refuses_the_past_and_the_current(pool: RunspacePool) -> None:
    thumbprint = _cert(pool, "FABRIKAM-EX1")
    soon = run(pool, "Set-AuthConfig", NewCertificateThumbprint=thumbprint, NewCertificateEffectiveDate=_later(hours=2))
    assert soon.had_errors and soon.streams.error[0].fq_error == "HostFunctionNotImplemented"
    past = run(pool, "Set-AuthConfig", "Force", NewCertificateThumbprint=thumbprint, NewCertificateEffectiveDate=_later(days=-1))
    assert past.had_errors and "ErrorEffectiveDateInPast" in _error(past)
    current = _config(pool)["CurrentCertificateThumbprint"]
    same = run(pool, "Set-AuthConfig", "Force", NewCertificateThumbprint=current, NewCertificateEffectiveDate=_later(days=3))
    assert same.had_errors and "ErrorNextCertificateSameAsCurrent" in _error(same)
    assert not run(pool, "Set-AuthConfig", NewCertificateThumbprint=thumbprint, NewCertificateEffectiveDate=_later(days=3)).had_errors
    assert _config(pool)["NextCertificateThumbprint"] == thumbprint


def test_publish_certificate_rolls_next_over_and_copies_nothing(pool: RunspacePool) -> None:
    nothing = run(pool, "Set-AuthConfig", "PublishCertificate")
    assert nothing.had_errors and "NoNextCertificateException" in str(nothing.streams.error[0].fq_error)
    old = _config(pool)["CurrentCertificateThumbprint"]
    new = _cert(pool, "FABRIKAM-EX1")
    run(pool, "Set-AuthConfig", NewCertificateThumbprint=new, NewCertificateEffectiveDate=_later(days=3))
    early = run(pool, "Set-AuthConfig", "PublishCertificate")  # over remoting nobody can answer the confirmation
    assert early.had_errors and "ConfirmationMessageAuthEffectiveDateNotReached" in _error(early)
    assert not run(pool, "Set-AuthConfig", "PublishCertificate", "Force").had_errors
    config = _config(pool)
    assert (config["CurrentCertificateThumbprint"], config["PreviousCertificateThumbprint"]) == (new, old)
    assert config["NextCertificateThumbprint"] == ""
    assert not _on(pool, new, "FABRIKAM-EX2")  # EX2 is in the other AD site, and publishing copies nothing
    run(pool, "Set-AuthConfig", "ClearPreviousCertificate")
    assert _config(pool)["PreviousCertificateThumbprint"] == ""


def test_setting_or_staging_pushes_the_certificate_within_the_ad_site_only(standin: StandIn) -> None:
    _reset(standin, servers=THREE)
    with exchange_pool(standin, "basic") as pool:
        staged = _cert(pool, "FABRIKAM-EX1")
        run(pool, "Set-AuthConfig", NewCertificateThumbprint=staged, NewCertificateEffectiveDate=_later(days=3))
        assert [_on(pool, staged, s) for s in ("FABRIKAM-EX1", "FABRIKAM-EX2", "FABRIKAM-EX3")] == [True, False, True]
        current = _cert(pool, "FABRIKAM-EX1")
        run(pool, "Set-AuthConfig", "Force", CertificateThumbprint=current)
        assert [_on(pool, current, s) for s in ("FABRIKAM-EX1", "FABRIKAM-EX2", "FABRIKAM-EX3")] == [True, False, True]


def test_export_then_import_puts_the_certificate_on_a_server_that_lacks_it(pool: RunspacePool) -> None:
    thumbprint = _cert(pool, "FABRIKAM-EX1")
    pool.exchange_keys()
    ps = PowerShell(pool)
    ps.add_cmdlet("Export-ExchangeCertificate").add_parameter("Thumbprint", thumbprint).add_parameter("Server", "FABRIKAM-EX1")
    ps.add_parameter("BinaryEncoded").add_parameter("Password", pool.serialize("0ne-Time", ObjectMeta("SS")))
    data = ps.invoke()[0].adapted_properties["FileData"]
    wrong = PowerShell(pool)
    wrong.add_cmdlet("Import-ExchangeCertificate").add_parameter("FileData", data).add_parameter("Server", "FABRIKAM-EX2")
    wrong.add_parameter("Password", pool.serialize("wrong", ObjectMeta("SS")))
    wrong.invoke()
    assert wrong.streams.error and not _on(pool, thumbprint, "FABRIKAM-EX2")
    right = PowerShell(pool)
    right.add_cmdlet("Import-ExchangeCertificate").add_parameter("FileData", data).add_parameter("Server", "FABRIKAM-EX2")
    right.add_parameter("Password", pool.serialize("0ne-Time", ObjectMeta("SS"))).add_parameter("PrivateKeyExportable", True)
    right.invoke()
    assert not right.streams.error and _on(pool, thumbprint, "FABRIKAM-EX2")


# ---- New-AuthServer -------------------------------------------------------------------------------------------------


def test_new_auth_server_without_a_metadata_url_is_a_binding_error(pool: RunspacePool) -> None:
    ps = run(pool, "New-AuthServer", Name="MicrosoftSts")
    assert ps.had_errors and ps.streams.error[0].fq_error == "MissingMandatoryParameter,New-AuthServer"


def test_new_auth_server_fetches_the_metadata_from_the_session_server(standin: StandIn) -> None:
    _reset(standin, servers=_servers(("FABRIKAM-EX1", "Site-A", False), ("FABRIKAM-EX2", "Site-B", True)))
    with exchange_pool(standin, "basic") as pool:
        ps = run(pool, "New-AuthServer", Name="MicrosoftSts", AuthMetadataUrl=METADATA)
        assert not ps.had_errors and ps.streams.error  # non-terminating, as Exchange's task errors are
        assert METADATA in _error(ps) and "fabrikam-ex1" in _error(ps).lower()
        assert "[Server=FABRIKAM-EX1," in str(ps.streams.error[0].fq_error)
        assert run(pool, "Get-AuthServer").output == []
        state = standin.state()
        state["organizations"]["fabrikam.com"]["session_server"] = "FABRIKAM-EX2"
        standin.put_state(state)
        assert not run(pool, "New-AuthServer", Name="MicrosoftSts", AuthMetadataUrl=METADATA).streams.error


def test_a_second_auth_server_for_the_same_realm_is_refused_whatever_its_name(standin: StandIn) -> None:
    _reset(standin, tenant_id=TENANT_ID)
    with exchange_pool(standin, "basic") as pool:
        assert not run(pool, "New-AuthServer", Name=f"ACS - {TENANT_ID}", AuthMetadataUrl=f"{ACS}/{TENANT_ID}/metadata/json/1").streams.error
        ps = run(pool, "New-AuthServer", Name="MicrosoftSts", AuthMetadataUrl=METADATA)
        assert "ErrorExistingAuthServerWithSameRealm" in _error(ps)
        assert [str(a) for a in run(pool, "Get-AuthServer").output] == [f"ACS - {TENANT_ID}"]


# ---- the push-notification proxy ------------------------------------------------------------------------------------


def test_get_push_notification_app_lists_every_canned_app(pool: RunspacePool) -> None:
    apps = {str(a): a.adapted_properties for a in run(pool, "Get-PushNotificationApp").output}
    assert len(apps) > 1 and "OnPrem-Proxy" in apps
    run(pool, "Enable-PushNotificationProxy", Organization="fabrikam.com")
    proxy = {str(a): a.adapted_properties for a in run(pool, "Get-PushNotificationApp").output}["OnPrem-Proxy"]
    assert (proxy["AuthenticationKey"], proxy["AuthenticationId"], proxy["Url"]) == (
        "fabrikam.com", None, "https://outlook.office365.com/PushNotifications")


# ---- throttling -------------------------------------------------------------------------------------------------------


def test_too_many_shells_is_powershell_max_concurrency(standin: StandIn) -> None:
    _reset(standin, max_concurrent_shells=2)
    with exchange_pool(standin, "basic"), exchange_pool(standin, "basic"):
        with pytest.raises(WSManFaultError) as refused:
            with exchange_pool(standin, "basic"):
                pass
    text = str(refused.value.reason)
    assert "This user is allowed a maximum number of 2 concurrent shells, which has been exceeded" in text
    with exchange_pool(standin, "basic") as pool:  # the others closed: room again
        assert run(pool, "Get-AuthConfig").output


def test_the_cmdlet_quota_says_how_long_to_wait(standin: StandIn, pool: RunspacePool) -> None:
    standin.faults([{"when": {"operation": "Command"}, "fail": {"kind": "throttle", "retry_ms": 1500}, "times": 1}])
    with pytest.raises(WSManFaultError) as refused:
        run(pool, "Get-AuthConfig")
    text = str(refused.value.reason)
    assert "The user load quota of" in text
    assert "The next request from this user will not be approved for at least 1500 milliseconds" in text
    assert run(pool, "Get-AuthConfig").output  # the connection is still good


# ---- Invoke-MonitoringProbe ------------------------------------------------------------------------------------------


def _onboard(standin: StandIn, pool: RunspacePool) -> None:
    run(pool, "New-AuthServer", Name="MicrosoftSts", AuthMetadataUrl=METADATA)
    run(pool, "Enable-PushNotificationProxy", Organization="fabrikam.com")


def test_a_probe_that_times_out_writes_only_a_warning(standin: StandIn) -> None:
    _reset(standin, probe_timeouts=1)
    with exchange_pool(standin, "basic") as pool:
        _onboard(standin, pool)
        ps = run(pool, "Invoke-MonitoringProbe", Identity=PROBE, Server="FABRIKAM-EX1")
        assert ps.output == [] and not ps.streams.error
        assert "timed out after 300 seconds" in ps.streams.warning[0].message
        again = run(pool, "Invoke-MonitoringProbe", Identity=PROBE, Server="FABRIKAM-EX1").output[0]
        assert str(again.adapted_properties["ResultType"]) == "Succeeded"
        assert again.adapted_properties["ResultType"].types[0] == "Microsoft.Office.Datacenter.WorkerTaskFramework.ResultType"


def test_the_probe_fails_until_the_health_manager_restarts(standin: StandIn) -> None:
    _reset(standin, probe_needs_health_manager_restart=True)
    with exchange_pool(standin, "basic") as pool:
        _onboard(standin, pool)
        result = run(pool, "Invoke-MonitoringProbe", Identity=PROBE, Server="FABRIKAM-EX1").output[0].adapted_properties
        assert str(result["ResultType"]) == "Failed" and "MSExchangeHM" in result["Error"]
        with RunspacePool(WSMan(**standin.wsman_kwargs("basic", windows=True))) as windows:
            assert not run(windows, "Restart-Service", Name="MSExchangeHM").streams.error
        result = run(pool, "Invoke-MonitoringProbe", Identity=PROBE, Server="FABRIKAM-EX1").output[0].adapted_properties
        assert str(result["ResultType"]) == "Succeeded"
