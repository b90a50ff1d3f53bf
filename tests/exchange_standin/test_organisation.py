"""The organisation behind the endpoint behaves as DOMAIN.md describes, in Exchange's NoLanguage runspace."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.serializer import ObjectMeta

from tests.exchange_standin.conftest import TRANSPORTS, exchange_pool, run
from tests.support.exchange_standin import StandIn, start_exchange_standin

PROBE = "PushNotifications.Proxy\\PushNotificationsEnterpriseConnectivityProbe"
METADATA = "https://accounts.accesscontrol.windows.net/metadata/json/1/?realm=fabrikam.com"


@pytest.fixture(scope="module")
def standins() -> Iterator[dict[str, StandIn]]:
    with start_exchange_standin() as http, start_exchange_standin(tls=True) as https:
        for s in (http, https):
            s.initial = s.state()  # type: ignore[attr-defined]
        yield {"http": http, "https": https}


@pytest.fixture(params=TRANSPORTS)
def auth_and_standin(request: pytest.FixtureRequest, standins: dict[str, StandIn]) -> tuple[str, StandIn]:
    scheme, auth = request.param.split("-")
    return auth, standins[scheme]


@pytest.fixture
def standin(auth_and_standin: tuple[str, StandIn]) -> StandIn:
    return auth_and_standin[1]


@pytest.fixture
def pool(auth_and_standin: tuple[str, StandIn]) -> Iterator[RunspacePool]:
    auth, standin = auth_and_standin
    standin.put_state(standin.initial)  # type: ignore[attr-defined]
    standin.clear_journal()
    standin.clear_faults()
    with exchange_pool(standin, auth) as pool:
        yield pool


def _sha1(der: bytes) -> str:
    return hashlib.sha1(der).hexdigest().upper()  # noqa: S324 - X.509 thumbprint


def _errors(ps: PowerShell) -> list[str]:
    return [str(e) for e in ps.streams.error]


def _new_auth_cert(pool: RunspacePool, server: str = "FABRIKAM-EX1") -> str:
    ps = run(pool, "New-ExchangeCertificate", KeySize=2048, PrivateKeyExportable=True,
             SubjectName="cn=Microsoft Exchange Server Auth Certificate",
             FriendlyName="Microsoft Exchange Server Auth Certificate", DomainName=[], Services="None", Server=server)
    assert not ps.streams.error, _errors(ps)
    return _sha1(ps.output[0].adapted_properties["RawData"])


def _proxy_app(pool: RunspacePool) -> dict[str, Any]:
    """OnPrem-Proxy among the canned apps Get-PushNotificationApp lists."""
    apps = run(pool, "Get-PushNotificationApp").output
    return next(dict(a.adapted_properties) for a in apps if str(a) == "OnPrem-Proxy")


def _onboard(pool: RunspacePool) -> None:
    run(pool, "New-AuthServer", Name="MicrosoftSts", AuthMetadataUrl=METADATA)
    run(pool, "Enable-PushNotificationProxy", Organization="fabrikam.com")


def _probe(pool: RunspacePool, server: str = "fabrikam-ex1.fabrikam.com") -> dict[str, str]:
    result = run(pool, "Invoke-MonitoringProbe", Identity=PROBE, Server=server).output[0]
    return {k: str(result.adapted_properties[k]) for k in ("ResultType", "Error", "Exception", "Server")}


# ---- default state ---------------------------------------------------------------------------------------------


def test_default_state_is_ready_to_onboard(pool: RunspacePool) -> None:
    servers = run(pool, "Get-ExchangeServer").output
    assert [str(s.adapted_properties["AdminDisplayVersion"]) for s in servers] == ["Version 15.2 (Build 1748.10)"] * 2
    config = run(pool, "Get-AuthConfig").output[0].adapted_properties
    assert config["ServiceName"] == "00000002-0000-0ff1-ce00-000000000000"
    for server in ("FABRIKAM-EX1", "FABRIKAM-EX2"):
        der = run(pool, "Get-ExchangeCertificate", Thumbprint=config["CurrentCertificateThumbprint"],
                  Server=server).output[0].adapted_properties["RawData"]
        cert = x509.load_der_x509_certificate(der)
        assert cert.not_valid_before_utc < dt.datetime.now(dt.UTC) < cert.not_valid_after_utc
    assert run(pool, "Get-AuthServer").output == []
    app = _proxy_app(pool)
    assert app["Enabled"] is False


# ---- NoLanguage and errors --------------------------------------------------------------------------------------


def test_a_script_is_refused(pool: RunspacePool) -> None:
    ps = PowerShell(pool)
    ps.add_script("Get-ExchangeServer | Where-Object { $_.Name -like 'X*' }")
    ps.invoke()
    assert ps.had_errors and ps.streams.error[0].fq_error == "ScriptsNotAllowed"
    assert "no-language mode" in str(ps.streams.error[0])


def test_an_unknown_cmdlet_is_command_not_found(pool: RunspacePool) -> None:
    ps = run(pool, "Get-Mailbox")
    assert ps.had_errors and ps.streams.error[0].fq_error == "CommandNotFoundException"
    assert ps.streams.error[0].reason == "CommandNotFoundException"


def test_an_unknown_parameter_is_a_terminating_binding_error(pool: RunspacePool) -> None:
    ps = run(pool, "Get-ExchangeServer", Bogus="x")
    assert ps.had_errors
    assert ps.streams.error[0].fq_error == "NamedParameterNotFound,Get-ExchangeServer"
    assert ps.streams.error[0].reason == "ParameterBindingException"


def test_exchange_errors_are_non_terminating_with_an_exchange_error_id(pool: RunspacePool) -> None:
    ps = run(pool, "Get-ExchangeServer", Identity="NOPE")
    assert ps.had_errors is False and ps.output == []
    err = ps.streams.error[0]
    assert err.fq_error is not None and err.exception is not None
    assert err.fq_error.startswith("[Server=FABRIKAM-EX1,RequestId=")
    assert "[FailureCategory=Cmdlet-ManagementObjectNotFoundException]" in err.fq_error
    assert err.fq_error.endswith(",Microsoft.Exchange.Management.SystemConfigurationTasks.GetExchangeServer")
    assert err.message == "NotSpecified: (NOPE:String) [Get-ExchangeServer], ManagementObjectNotFoundException"
    assert err.exception.types[0] == "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException"


def test_error_action_stop_makes_the_error_terminating(pool: RunspacePool) -> None:
    ps = run(pool, "Get-ExchangeServer", Identity="NOPE", ErrorAction="Stop")
    assert ps.had_errors and "couldn't be found" in str(ps.streams.error[0])


def test_a_prompting_cmdlet_fails_without_confirm_false_or_force(pool: RunspacePool) -> None:
    ps = run(pool, "Disable-PushNotificationProxy")
    assert ps.had_errors and ps.streams.error[0].fq_error == "HostFunctionNotImplemented"
    assert not run(pool, "Disable-PushNotificationProxy", Confirm=False).had_errors
    thumbprint = _new_auth_cert(pool)
    assert run(pool, "Set-AuthConfig", CertificateThumbprint=thumbprint).had_errors
    assert not run(pool, "Set-AuthConfig", "Force", CertificateThumbprint=thumbprint).had_errors


# ---- certificates and AuthConfig ----------------------------------------------------------------------------------


def test_new_certificate_exists_only_on_its_server_and_publishing_copies_nothing(pool: RunspacePool) -> None:
    thumbprint = _new_auth_cert(pool, "FABRIKAM-EX1")
    assert len(run(pool, "Get-ExchangeCertificate", Thumbprint=thumbprint, Server="FABRIKAM-EX1").output) == 1
    missing = run(pool, "Get-ExchangeCertificate", Thumbprint=thumbprint, Server="FABRIKAM-EX2")
    assert missing.output == [] and missing.had_errors is False
    assert "ManagementObjectNotFoundException" in str(missing.streams.error[0].fq_error)
    run(pool, "Set-AuthConfig", "Force", CertificateThumbprint=thumbprint)
    # EX2 is in another AD site: neither the assignment nor -PublishCertificate (nothing staged) puts it there.
    assert run(pool, "Set-AuthConfig", "PublishCertificate").had_errors
    assert run(pool, "Get-ExchangeCertificate", Thumbprint=thumbprint, Server="FABRIKAM-EX2").output == []


def test_remove_exchange_certificate_prompts_refuses_the_auth_certificates_and_names_a_missing_one(
    pool: RunspacePool,
) -> None:
    """README row 35."""
    stray = _new_auth_cert(pool, "FABRIKAM-EX1")
    prompted = run(pool, "Remove-ExchangeCertificate", Thumbprint=stray, Server="FABRIKAM-EX1")
    assert prompted.had_errors and prompted.streams.error[0].fq_error == "HostFunctionNotImplemented"
    assert not run(pool, "Remove-ExchangeCertificate", Thumbprint=stray, Server="FABRIKAM-EX1", Confirm=False).streams.error
    assert run(pool, "Get-ExchangeCertificate", Thumbprint=stray, Server="FABRIKAM-EX1").output == []
    missing = run(pool, "Remove-ExchangeCertificate", Thumbprint=stray, Server="FABRIKAM-EX1", Confirm=False)
    assert "ManagementObjectNotFoundException" in str(missing.streams.error[0].fq_error)
    current = run(pool, "Get-AuthConfig").output[0].adapted_properties["CurrentCertificateThumbprint"]
    refused = run(pool, "Remove-ExchangeCertificate", Thumbprint=current, Server="FABRIKAM-EX1", Confirm=False)
    assert "InvalidOperationException" in str(refused.streams.error[0].fq_error)
    assert len(run(pool, "Get-ExchangeCertificate", Thumbprint=current, Server="FABRIKAM-EX1").output) == 1


def test_set_auth_config_rotates_and_clears(pool: RunspacePool) -> None:
    old = run(pool, "Get-AuthConfig").output[0].adapted_properties["CurrentCertificateThumbprint"]
    new = _new_auth_cert(pool)
    effective = dt.datetime.now(dt.UTC) + dt.timedelta(days=3)
    run(pool, "Set-AuthConfig", NewCertificateThumbprint=new, NewCertificateEffectiveDate=effective.isoformat())  # pypsrp sends no DateTime: a string binds
    config = run(pool, "Get-AuthConfig").output[0].adapted_properties
    assert config["NextCertificateThumbprint"] == new
    assert dt.datetime.fromisoformat(config["NextCertificateEffectiveDate"]) > dt.datetime.now(dt.UTC)
    run(pool, "Set-AuthConfig", "Force", CertificateThumbprint=new)
    config = run(pool, "Get-AuthConfig").output[0].adapted_properties
    assert (config["CurrentCertificateThumbprint"], config["PreviousCertificateThumbprint"]) == (new, old)
    run(pool, "Set-AuthConfig", "ClearPreviousCertificate")
    assert run(pool, "Get-AuthConfig").output[0].adapted_properties["PreviousCertificateThumbprint"] == ""


def test_assigning_an_unknown_thumbprint_is_a_terminating_error(pool: RunspacePool) -> None:
    ps = run(pool, "Set-AuthConfig", "Force", CertificateThumbprint="AB" * 20)
    assert ps.had_errors and "ErrorThumbprintNotFound" in str(ps.streams.error[0])


def test_export_with_a_secure_string_password_gives_a_pfx(standin: StandIn, pool: RunspacePool) -> None:
    thumbprint = _new_auth_cert(pool)
    pool.exchange_keys()
    ps = PowerShell(pool)
    ps.add_cmdlet("Export-ExchangeCertificate").add_parameter("Thumbprint", thumbprint)
    ps.add_parameter("BinaryEncoded").add_parameter("Password", pool.serialize("Pfx-Pa55", ObjectMeta("SS")))
    ps.invoke()
    assert not ps.streams.error, _errors(ps)
    data = ps.output[0].adapted_properties["FileData"]
    key, cert, _ = pkcs12.load_key_and_certificates(data, b"Pfx-Pa55")
    assert key is not None and cert is not None and _sha1(cert.public_bytes(_der())) == thumbprint
    entry = [e for e in standin.journal() if e["operation"] == "Export-ExchangeCertificate"][-1]
    assert entry["parameters"]["Password"] == "***"
    assert "Pfx-Pa55" not in json.dumps(standin.journal())


def _der() -> Any:
    from cryptography.hazmat.primitives.serialization import Encoding

    return Encoding.DER


# ---- AuthServer and push proxy -------------------------------------------------------------------------------------


def test_auth_server_lifecycle(pool: RunspacePool) -> None:
    created = run(pool, "New-AuthServer", Name="MicrosoftSts", AuthMetadataUrl=METADATA).output[0]
    assert created.types[0] == "Microsoft.Exchange.Data.Directory.SystemConfiguration.AuthServer"
    assert created.adapted_properties["AuthMetadataUrl"] == METADATA
    again = run(pool, "New-AuthServer", Name="MicrosoftSts", AuthMetadataUrl=METADATA)
    assert "ManagementObjectAlreadyExistsException" in str(again.streams.error[0].fq_error)
    other = METADATA.replace("fabrikam.com", "contoso.com")
    run(pool, "Set-AuthServer", Identity="MicrosoftSts", AuthMetadataUrl=other)
    assert run(pool, "Get-AuthServer", Identity="MicrosoftSts").output[0].adapted_properties["AuthMetadataUrl"] == other
    assert run(pool, "Remove-AuthServer", Identity="MicrosoftSts").had_errors  # prompts
    run(pool, "Remove-AuthServer", Identity="MicrosoftSts", Confirm=False)
    assert run(pool, "Get-AuthServer").output == []


def test_enable_push_notification_proxy_returns_the_presentation_object(pool: RunspacePool) -> None:
    app = run(pool, "Enable-PushNotificationProxy", Organization="fabrikam.com").output[0]
    assert str(app) == "OnPrem-Proxy"
    assert app.types[0] == "Microsoft.Exchange.Management.PushNotifications.PushNotificationProxyPresentationObject"
    props = app.adapted_properties
    assert (props["DisplayName"], props["Enabled"], props["Organization"], props["Uri"]) == (
        "On Premises Proxy app", True, "fabrikam.com", "https://outlook.office365.com/PushNotifications")
    stored = _proxy_app(pool)
    assert (stored["Enabled"], stored["AuthenticationKey"], stored["Url"]) == (
        True, "fabrikam.com", "https://outlook.office365.com/PushNotifications")
    assert stored["AuthenticationId"] is None
    assert run(pool, "Enable-PushNotificationProxy", Organization="not a domain").streams.error


# ---- the probe ------------------------------------------------------------------------------------------------------


def test_probe_fails_saying_what_is_missing(pool: RunspacePool) -> None:
    result = _probe(pool)
    assert result["ResultType"] == "Failed"
    assert "push notification proxy is not enabled" in result["Error"]
    assert "No enabled AuthServer" in result["Error"]


def test_probe_succeeds_once_configured(pool: RunspacePool) -> None:
    _onboard(pool)
    assert _probe(pool) == {"ResultType": "Succeeded", "Error": "", "Exception": "",
                            "Server": "fabrikam-ex1.fabrikam.com"}


def test_probe_fails_when_the_current_certificate_is_missing_on_the_server(pool: RunspacePool) -> None:
    _onboard(pool)
    thumbprint = _new_auth_cert(pool, "FABRIKAM-EX1")
    run(pool, "Set-AuthConfig", "Force", CertificateThumbprint=thumbprint)
    assert _probe(pool, "fabrikam-ex1.fabrikam.com")["ResultType"] == "Succeeded"
    result = _probe(pool, "fabrikam-ex2.fabrikam.com")
    assert result["ResultType"] == "Failed" and "not present on server FABRIKAM-EX2" in result["Error"]


def test_probe_fails_when_the_certificate_has_expired(standin: StandIn, pool: RunspacePool) -> None:
    state = standin.state()
    org = state["organizations"]["fabrikam.com"]
    cert = org["certificates"][0]
    cert.pop("der")  # regenerate it from the facts below; the auth_config reference follows
    cert["not_before"], cert["not_after"] = "2020-01-01T00:00:00Z", "2021-01-01T00:00:00Z"
    standin.put_state(state)
    _onboard(pool)
    result = _probe(pool)
    assert result["ResultType"] == "Failed" and "is not valid now" in result["Error"]


TENANT_ID = "6f1d0b62-8d2b-4c4e-9b1e-2a3f4c5d6e7f"
ACS = "https://accounts.accesscontrol.windows.net"


def _with_tenant_id(standin: StandIn, tenant_id: str) -> None:
    state = standin.state()
    state["organizations"]["fabrikam.com"]["tenant_id"] = tenant_id
    standin.put_state(state)


def test_new_auth_server_reads_the_realm_from_the_metadata_whatever_the_url_form(
    standin: StandIn, pool: RunspacePool,
) -> None:
    """ACS's metadata gives the tenant id as the Realm: every URL form naming the tenant is the same AuthServer."""
    _with_tenant_id(standin, TENANT_ID)
    forms = {"Seed": METADATA, "Guid": f"{ACS}/{TENANT_ID}/metadata/json/1", "Domain": f"{ACS}/fabrikam.com/metadata/json/1"}
    for form in forms:
        state = standin.state()
        state["organizations"]["fabrikam.com"]["auth_servers"] = []
        standin.put_state(state)
        assert not run(pool, "New-AuthServer", Name=form, AuthMetadataUrl=forms[form]).streams.error
        props = run(pool, "Get-AuthServer", Identity=form).output[0].adapted_properties
        assert props["Realm"] == TENANT_ID
        assert props["TokenIssuingEndpoint"] == f"{ACS}/{TENANT_ID}/tokens/OAuth/2"
    evo = "https://login.windows.net/fabrikam.com/federationmetadata/2007-06/federationmetadata.xml"
    run(pool, "New-AuthServer", Name="EvoSts - 1", AuthMetadataUrl=evo)
    assert str(run(pool, "Get-AuthServer", Identity="EvoSts - 1").output[0].adapted_properties["Type"]) == "AzureAD"


def test_probe_accepts_the_hybrid_wizard_path_form_naming_the_tenant_id(standin: StandIn, pool: RunspacePool) -> None:
    run(pool, "New-AuthServer", Name=f"ACS - {TENANT_ID}", AuthMetadataUrl=f"{ACS}/{TENANT_ID}/metadata/json/1")
    run(pool, "Enable-PushNotificationProxy", Organization="fabrikam.com")
    unknown = _probe(pool)  # the organisation's tenant id is not known: the GUID names nobody
    assert unknown["ResultType"] == "Failed" and "No enabled AuthServer" in unknown["Error"]
    _with_tenant_id(standin, TENANT_ID.upper())
    assert _probe(pool)["ResultType"] == "Succeeded"
    _with_tenant_id(standin, "99999999-8888-7777-6666-555555555555")  # another tenant's ACS server
    assert "No enabled AuthServer" in _probe(pool)["Error"]


def test_probe_accepts_the_path_form_naming_the_organisation(pool: RunspacePool) -> None:
    run(pool, "New-AuthServer", Name="ACS - 1", AuthMetadataUrl=f"{ACS}/FABRIKAM.com/metadata/json/1")
    run(pool, "Enable-PushNotificationProxy", Organization="fabrikam.com")
    assert _probe(pool)["ResultType"] == "Succeeded"


def test_probe_does_not_take_evosts_or_another_realm_for_the_acs_server(pool: RunspacePool) -> None:
    run(pool, "New-AuthServer", Name="EvoSts - 1",
        AuthMetadataUrl="https://login.windows.net/fabrikam.com/federationmetadata/2007-06/federationmetadata.xml")
    run(pool, "New-AuthServer", Name="ACS - 2", AuthMetadataUrl=f"{ACS}/contoso.onmicrosoft.com/metadata/json/1")
    run(pool, "Enable-PushNotificationProxy", Organization="fabrikam.com")
    assert "No enabled AuthServer" in _probe(pool)["Error"]


class _TenantState(BaseHTTPRequestHandler):
    body = b"{}"

    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: Any) -> None:
        pass


def test_probe_with_tenant_state_needs_the_key_on_the_service_principal() -> None:
    import base64

    server = ThreadingHTTPServer(("127.0.0.1", 0), _TenantState)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/_emulator/state"
    try:
        with start_exchange_standin("--tenant-state", url) as standin, exchange_pool(standin) as pool:
            _onboard(pool)
            thumbprint = run(pool, "Get-AuthConfig").output[0].adapted_properties["CurrentCertificateThumbprint"]
            der = run(pool, "Get-ExchangeCertificate", Thumbprint=thumbprint).output[0].adapted_properties["RawData"]
            sp: dict[str, Any] = {"appId": "00000002-0000-0ff1-ce00-000000000000", "keyCredentials": []}
            tenant = {"id": "t", "verifiedDomains": [{"name": "fabrikam.com"}], "servicePrincipals": [sp]}
            _TenantState.body = json.dumps({"tenants": {"t": tenant}}).encode()
            result = _probe(pool)
            assert result["ResultType"] == "Failed" and "service principal has no key" in result["Error"]
            sp["keyCredentials"].append({"key": base64.b64encode(der).decode(), "type": "AsymmetricX509Cert"})
            _TenantState.body = json.dumps({"tenants": {"t": tenant}}).encode()
            assert _probe(pool)["ResultType"] == "Succeeded"
    finally:
        server.shutdown()


# ---- the Windows PowerShell endpoint ---------------------------------------------------------------------------------


def test_windows_powershell_endpoint_restarts_only_the_health_manager(
    auth_and_standin: tuple[str, StandIn], pool: RunspacePool
) -> None:
    from pypsrp.wsman import WSMan

    auth, standin = auth_and_standin
    with RunspacePool(WSMan(**standin.wsman_kwargs(auth, windows=True)),
                      configuration_name="Microsoft.PowerShell") as wps:
        assert not run(wps, "Restart-Service", Name="MSExchangeHM").streams.error
        assert run(wps, "Restart-Service", Name="W3SVC").streams.error
        assert run(wps, "Get-ExchangeServer").had_errors  # not an Exchange endpoint
        script = PowerShell(wps)
        script.add_script("Restart-Service MSExchangeHM")
        script.invoke()
        assert script.had_errors
    restarts = [e for e in standin.journal() if e["operation"] == "Restart-Service"]
    assert [(e["endpoint"], e["outcome"]) for e in restarts] == [("wsman", "ok"), ("wsman", "error")]


def test_a_plain_string_password_is_refused_without_echoing_it(standin: StandIn, pool: RunspacePool) -> None:
    thumbprint = _new_auth_cert(pool)
    ps = run(pool, "Export-ExchangeCertificate", Thumbprint=thumbprint, Password="Plain-Pa55")
    assert ps.had_errors and ps.streams.error[0].fq_error == (
        "ParameterArgumentTransformationError,Export-ExchangeCertificate")
    assert "Plain-Pa55" not in str(ps.streams.error[0]) and "Plain-Pa55" not in json.dumps(standin.journal())
    new = [e for e in standin.journal() if e["operation"] == "New-ExchangeCertificate"][-1]
    assert new["parameters"]["KeySize"] == 2048  # only secrets are masked


# ---- offboarding ---------------------------------------------------------------------------------------------------


def test_disable_push_notification_proxy_keeps_the_organisation_and_refuses_a_disabled_proxy(
    pool: RunspacePool, standin: StandIn
) -> None:
    assert not run(pool, "Enable-PushNotificationProxy", Organization="fabrikam.com").had_errors
    assert not run(pool, "Disable-PushNotificationProxy", Confirm=False).streams.error
    proxy = standin.state()["organizations"]["fabrikam.com"]["push_proxy"]
    assert proxy["enabled"] is False and proxy["organization"] == "fabrikam.com"
    again = run(pool, "Disable-PushNotificationProxy", Confirm=False)
    assert not again.had_errors and "InvalidOperationException" in str(again.streams.error[0].fq_error)


def test_remove_auth_server_prompts_and_names_a_missing_one(pool: RunspacePool, standin: StandIn) -> None:
    assert not run(pool, "New-AuthServer", Name="MicrosoftSts", AuthMetadataUrl=METADATA).streams.error
    prompted = run(pool, "Remove-AuthServer", Identity="MicrosoftSts")
    assert prompted.had_errors and prompted.streams.error[0].fq_error == "HostFunctionNotImplemented"
    assert not run(pool, "Remove-AuthServer", Identity="MicrosoftSts", Confirm=False).streams.error
    assert standin.state()["organizations"]["fabrikam.com"]["auth_servers"] == []
    missing = run(pool, "Remove-AuthServer", Identity="MicrosoftSts", Confirm=False)
    assert "ManagementObjectNotFoundException" in str(missing.streams.error[0].fq_error)
