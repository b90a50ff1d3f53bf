"""Exchange objects as CLIXML, built from real captures so type chains, property names and order are Exchange's.

Objects Exchange returns that were not captured (AuthServer, PushNotificationApp, MonitoringProbeResult) reuse the
captured AuthConfig's ADConfigurationObject part and put their own properties first, with the type and property
names of Exchange's classes (see README.md for which of these could be confirmed).
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

from emulators.exchange import certificates, clixml
from emulators.exchange.organisation import Certificate, Organisation, Server

TEMPLATES = Path(__file__).resolve().parent / "templates"
_AD_SPECIFIC_AUTHCONFIG_PROPS = 8  # CurrentCertificateThumbprint .. IssuerIdentifier in the AuthConfig capture

EDITIONS = {"Unknown": 0, "Standard": 1, "StandardEvaluation": 2, "Enterprise": 3, "EnterpriseEvaluation": 4}


@functools.lru_cache(maxsize=8)
def _template_text(name: str) -> str:
    return (TEMPLATES / name).read_text(encoding="utf-8-sig")


@functools.lru_cache(maxsize=512)
def _renamed_template(name: str, org_name: str, realm: str, display: str, server: str, fqdn: str) -> ET.Element:
    """The capture with the captured organisation's names replaced by ours (identifiers, DNs, addresses)."""
    dc = ",".join(f"DC={part}" for part in realm.split("."))
    text = _template_text(name)
    for old, new in (
        ("DC=Solo,DC=com", dc),
        ("SoloORG", display),
        ("Solo-DC1.Solo.com", f"DC1.{realm}"),
        ("Solo-E19A.Solo.com", fqdn),
        ("solo-e19a.solo.com", fqdn.lower()),
        ("SOLO-E19A", server),
        ("Solo-E19A", server),
        ("Solo.com", realm),
    ):
        text = text.replace(old, new)
    return clixml.compact(clixml.load_capture_text(text)[0])


def _fresh(name: str, org: Organisation, server: Server) -> ET.Element:
    return copy.deepcopy(_renamed_template(name, org.name, org.realm, org.display_name, server.name, server.fqdn))


def _stamp(obj: ET.Element, server: Server, runspace_id: uuid.UUID) -> None:
    clixml.set_text(obj, "PSComputerName", server.fqdn.lower())
    clixml.set_prop(obj, "RunspaceId", clixml.primitive(runspace_id))


def _guid(seed: str) -> uuid.UUID:
    # Stable per object so repeated Get-* calls agree, as AD object GUIDs do.
    return uuid.uuid5(uuid.NAMESPACE_URL, seed)


def server_version(server: Server, name: str = "AdminDisplayVersion") -> ET.Element:
    major, minor, build, revision = server.version_parts
    return clixml.complex_object(
        ["Microsoft.Exchange.Data.ServerVersion", "System.Object"],
        f"Version {major}.{minor} (Build {build}.{revision})",
        [("Major", major), ("Minor", minor), ("Build", build), ("Revision", revision), ("FilePatchLevelDescription", None)],
        name=name,
    )


def exchange_server(org: Organisation, server: Server, via: Server, runspace_id: uuid.UUID) -> clixml.RawObject:
    obj = _fresh("e19-GetExchangeServer.xml", org, server)
    clixml.set_to_string(obj, server.name)
    edition = clixml.prop(obj, "Edition")
    edition.find("ToString").text = server.edition  # type: ignore[union-attr]
    edition.find("I32").text = str(EDITIONS.get(server.edition, 0))  # type: ignore[union-attr]
    # Keep the captured element (its MS SerializationData included) and change only the numbers and the ToString.
    version = clixml.prop(obj, "AdminDisplayVersion")
    fresh = server_version(server)
    version.find("ToString").text = fresh.find("ToString").text  # type: ignore[union-attr]
    for part, number in zip(("Major", "Minor", "Build", "Revision"), server.version_parts, strict=True):
        clixml.set_prop(version, part, clixml.primitive(number))
    clixml.set_prop(obj, "IsMailboxServer", clixml.primitive(server.is_mailbox))
    clixml.set_prop(obj, "IsClientAccessServer", clixml.primitive("ClientAccess" in server.roles or server.is_mailbox))
    guid = _guid(f"{org.name}/server/{server.name}")
    clixml.set_prop(obj, "Guid", clixml.primitive(guid))
    clixml.set_prop(clixml.prop(obj, "Identity"), "ObjectGuid", clixml.primitive(guid))
    _stamp(obj, via, runspace_id)
    return clixml.RawObject.from_element(obj)


def exchange_certificate(org: Organisation, cert: Certificate, server: Server, runspace_id: uuid.UUID) -> clixml.RawObject:
    """Over remoting an ExchangeCertificate keeps only RawData (plus the captured SerializationData blob)."""
    obj = _fresh("e19-GetExchangeCertificate.xml", org, server)
    clixml.set_to_string(obj, certificates.to_string(cert.der))
    clixml.set_prop(obj, "RawData", clixml.primitive(cert.der))
    _stamp(obj, server, runspace_id)
    return clixml.RawObject.from_element(obj)


def auth_config(org: Organisation, server: Server, runspace_id: uuid.UUID) -> clixml.RawObject:
    ac = org.auth_config
    obj = _fresh("e19-GetAuthConfig.xml", org, server)
    clixml.set_text(obj, "CurrentCertificateThumbprint", ac.current)
    clixml.set_text(obj, "PreviousCertificateThumbprint", ac.previous)
    clixml.set_text(obj, "NextCertificateThumbprint", ac.next)
    clixml.set_prop(obj, "NextCertificateEffectiveDate", clixml.primitive(ac.next_effective))
    clixml.set_text(obj, "ServiceName", ac.service_name)
    clixml.set_text(obj, "Realm", ac.realm)
    _stamp(obj, server, runspace_id)
    return clixml.RawObject.from_element(obj)


def _ad_configuration_object(
    org: Organisation,
    server: Server,
    runspace_id: uuid.UUID,
    type_names: list[str],
    name: str,
    container: str,
    object_class: list[str],
    schema_class: str,
    specific: list[tuple[str, object]],
    when_changed: dt.datetime | None = None,
) -> ET.Element:
    """An ADConfigurationObject of another class, made from the AuthConfig capture's common part."""
    obj = _fresh("e19-GetAuthConfig.xml", org, server)
    tn = obj.find("TN")
    assert tn is not None
    for t in list(tn):
        tn.remove(t)
    for type_name in type_names:
        ET.SubElement(tn, "T").text = type_name
    clixml.set_to_string(obj, name)
    props = obj.find("Props")
    assert props is not None
    for child in list(props)[:_AD_SPECIFIC_AUTHCONFIG_PROPS]:
        props.remove(child)
    for index, (key, value) in enumerate(specific):
        props.insert(index, clixml.primitive(value, key))
    dc = ",".join(f"DC={part}" for part in org.realm.split("."))
    dn = f"CN={name},{container},CN={org.display_name},CN=Microsoft Exchange,CN=Services,CN=Configuration,{dc}"
    guid = _guid(f"{org.name}/{schema_class}/{name}")
    clixml.set_text(obj, "Name", name)
    clixml.set_text(obj, "DistinguishedName", dn)
    clixml.set_prop(obj, "Guid", clixml.primitive(guid))
    identity = clixml.prop(obj, "Identity")
    clixml.set_to_string(identity, name)
    for key, value in (("Rdn", f"CN={name}"), ("DistinguishedName", dn), ("Name", name)):
        clixml.set_text(identity, key, value)
    clixml.set_prop(identity, "ObjectGuid", clixml.primitive(guid))
    category = clixml.prop(obj, "ObjectCategory")
    clixml.set_to_string(category, f"{org.realm}/Configuration/Schema/{schema_class}")
    clixml.set_text(category, "Rdn", f"CN={schema_class}")
    clixml.set_text(category, "Name", schema_class)
    clixml.set_text(category, "DistinguishedName", f"CN={schema_class},CN=Schema,CN=Configuration,{dc}")
    classes = clixml.prop(obj, "ObjectClass").find("LST")
    assert classes is not None
    for child in list(classes):
        classes.remove(child)
    for cls in object_class:
        classes.append(clixml.primitive(cls))
    if when_changed is not None:
        local = when_changed.astimezone(dt.UTC)
        clixml.set_prop(obj, "WhenChanged", clixml.primitive(local))
        clixml.set_prop(obj, "WhenChangedUTC", clixml.primitive(local))
    # The captured SerializationData describes the AuthConfig it came from; drop it rather than lie.
    ms = obj.find("MS")
    if ms is not None:
        for child in list(ms):
            if child.get("N") == "SerializationData":
                ms.remove(child)
    _stamp(obj, server, runspace_id)
    return obj


AUTH_SERVER_TYPES = {"Unknown": 0, "MicrosoftACS": 1, "Facebook": 2, "LinkedIn": 3, "ADFS": 4, "AzureAD": 5}


def auth_server(org: Organisation, auth, server: Server, runspace_id: uuid.UUID) -> clixml.RawObject:  # type: ignore[no-untyped-def]
    specific: list[tuple[str, object]] = [
        ("IssuerIdentifier", auth.issuer_identifier),
        ("TokenIssuingEndpoint", auth.token_issuing_endpoint),
        ("AuthorizationEndpoint", None),
        ("ApplicationIdentifier", auth.application_identifier),
        ("CertificateStrings", clixml.multi_valued(clixml.STRING_LIST_TYPES, [])),
        ("CurrentCertificateThumbprint", ""),
        ("PreviousCertificateThumbprint", ""),
        ("AuthMetadataUrl", auth.auth_metadata_url),
        ("Type", clixml.enum_value(
            "Microsoft.Exchange.Data.Directory.SystemConfiguration.AuthServerType", auth.type,
            AUTH_SERVER_TYPES.get(auth.type, 0))),
        ("Realm", auth.realm),
        ("Enabled", auth.enabled),
        ("IsDefaultAuthorizationEndpoint", False),
        ("DomainName", clixml.multi_valued(clixml.STRING_LIST_TYPES, list(auth.domain_name))),
    ]
    obj = _ad_configuration_object(
        org, server, runspace_id,
        ["Microsoft.Exchange.Data.Directory.SystemConfiguration.AuthServer",
         "Microsoft.Exchange.Data.Directory.SystemConfiguration.ADConfigurationObject",
         "Microsoft.Exchange.Data.Directory.ADObject", "Microsoft.Exchange.Data.Directory.ADRawEntry",
         "Microsoft.Exchange.Data.ConfigurableObject", "System.Object"],
        auth.name, "CN=Auth Servers,CN=Auth Configuration", ["top", "msExchAuthAuthServer"],
        "ms-Exch-Auth-Auth-Server", specific,
    )
    return clixml.RawObject.from_element(obj)


PUSH_PLATFORMS = {"None": 0, "APNS": 1, "PendingGet": 2, "WNS": 3, "Proxy": 4, "GCM": 5}


# The apps Exchange creates at setup (PushNotificationCannedApp): the proxy's OnPrem-Proxy plus the Outlook apps
# of the other platforms. Their names and platforms beyond OnPrem-Proxy are an assumption (see README.md).
CANNED_APPS: tuple[tuple[str, str, str], ...] = (
    ("Microsoft.Exchange.Wns", "Microsoft Exchange WNS", "WNS"),
    ("Microsoft.Exchange.Apns", "Microsoft Exchange APNS", "APNS"),
    ("Microsoft.Outlook.Gcm", "Microsoft Outlook GCM", "GCM"),
    ("OnPrem-Proxy", "On Premises Proxy app", "Proxy"),
)


def push_notification_app(
    org: Organisation, server: Server, runspace_id: uuid.UUID, app: str = "OnPrem-Proxy",
) -> clixml.RawObject:
    """A PushNotificationApp. OnPrem-Proxy keeps the organisation in AuthenticationKey and the URI in Url
    (EnablePushNotificationProxy); AuthenticationId stays empty."""
    name, display, platform = next(a for a in CANNED_APPS if a[0] == app)
    proxy = name == "OnPrem-Proxy"
    pp = org.push_proxy
    specific: list[tuple[str, object]] = [
        ("LastUpdateTimeUtc", pp.last_update if proxy else None),
        ("DisplayName", display),
        ("Platform", clixml.enum_value(
            "Microsoft.Exchange.Data.PushNotificationPlatform", platform, PUSH_PLATFORMS[platform])),
        ("Enabled", pp.enabled if proxy else platform != "GCM"),
        ("ExchangeMinimumVersion", None),
        ("ExchangeMaximumVersion", None),
        ("QueueSize", None),
        ("NumberOfChannels", None),
        ("AuthenticationId", None),
        ("AuthenticationKey", (pp.organization or None) if proxy else None),
        ("AuthenticationKeyFallback", None),
        ("IsAuthenticationKeyEncrypted", False if proxy else None),
        ("Url", pp.uri if proxy else None),
        ("UriTemplate", None),
        ("Port", None),
        ("SecondaryUrl", None),
        ("SecondaryPort", None),
        ("BackOffTimeInSeconds", None),
        ("AddTimeout", None),
        ("ConnectStepTimeout", None),
        ("ConnectTotalTimeout", None),
        ("ConnectRetryDelay", None),
        ("AuthenticateRetryMax", None),
        ("ConnectRetryMax", None),
        ("ReadTimeout", None),
        ("WriteTimeout", None),
        ("IgnoreCertificateErrors", None),
        ("MaximumCacheSize", None),
        ("RegistrationTemplate", None),
        ("RegistrationEnabled", None),
        ("MultifactorRegistrationEnabled", None),
        ("PartitionName", None),
        ("IsDefaultPartitionName", None),
    ]
    obj = _ad_configuration_object(
        org, server, runspace_id,
        ["Microsoft.Exchange.Data.Directory.SystemConfiguration.PushNotificationApp",
         "Microsoft.Exchange.Data.Directory.SystemConfiguration.ADConfigurationObject",
         "Microsoft.Exchange.Data.Directory.ADObject", "Microsoft.Exchange.Data.Directory.ADRawEntry",
         "Microsoft.Exchange.Data.ConfigurableObject", "System.Object"],
        name, "CN=Push Notifications Settings,CN=Global Settings", ["top", "msExchPushNotificationsApp"],
        "ms-Exch-Push-Notifications-App", specific, pp.last_update if proxy else None,
    )
    return clixml.RawObject.from_element(obj)


def push_notification_proxy(org: Organisation, server: Server, runspace_id: uuid.UUID) -> clixml.RawObject:
    """What Enable-PushNotificationProxy returns: a PushNotificationProxyPresentationObject, whose schema maps
    Organization = AuthenticationKey and Uri = Url (the seed's sample output shows these names)."""
    pp = org.push_proxy
    props: list[tuple[str, object]] = [
        ("DisplayName", "On Premises Proxy app"),
        ("Enabled", pp.enabled),
        ("Organization", pp.organization or None),
        ("Uri", pp.uri),
        ("LastUpdateTimeUtc", pp.last_update),
        ("Identity", "OnPrem-Proxy"),
        ("IsValid", True),
        ("ObjectState", clixml.enum_value("Microsoft.Exchange.Data.ObjectState", "Unchanged", 1)),
        ("PSComputerName", server.fqdn.lower()),
        ("RunspaceId", runspace_id),
    ]
    obj = clixml.complex_object(
        ["Microsoft.Exchange.Management.PushNotifications.PushNotificationProxyPresentationObject",
         "Microsoft.Exchange.Data.ConfigurableObject", "System.Object"],
        "OnPrem-Proxy", props,
    )
    return clixml.RawObject.from_element(obj)


RESULT_TYPES = {"Abandoned": 1, "Timedout": 2, "Poisoned": 3, "Succeeded": 4, "Failed": 5, "Quarantined": 6, "Rejected": 7}


def monitoring_probe_result(
    server: Server, identity: str, result_type: str, error: str, exception: str, started: dt.datetime,
    ended: dt.datetime, runspace_id: uuid.UUID,
) -> clixml.RawObject:
    health_set, _, probe = identity.partition("\\")
    request_id = uuid.uuid4()
    props: list[tuple[str, object]] = [
        ("Server", server.fqdn),
        ("MonitorIdentity", identity),
        ("RequestId", request_id),
        ("ExecutionStartTime", started),
        ("ExecutionEndTime", ended),
        ("Error", error),
        ("Exception", exception),
        ("PoisonedCount", 0),
        ("ExecutionId", 0),
        ("SampleValue", (ended - started).total_seconds() * 1000.0),
        ("ExecutionContext", ""),
        ("FailureContext", error),
        ("ExtensionXml", ""),
        ("ResultType", clixml.enum_value(
            "Microsoft.Office.Datacenter.WorkerTaskFramework.ResultType", result_type, RESULT_TYPES[result_type])),
        ("RetryCount", 0),
        ("ResultName", f"{health_set}\\{probe.split('/')[0]}"),
        ("IsNotified", False),
        ("ResultId", 0),
        ("ServiceName", health_set),
    ]
    props += [(f"StateAttribute{i}", 0.0 if i in (6, 7, 8, 9, 10, 16, 17, 18, 19, 20) else "") for i in range(1, 26)]
    ident = clixml.complex_object(
        ["Microsoft.Office.Datacenter.ActiveMonitoring.Management.Common.MonitoringProbeResult+MonitoringProbeResultId",
         "Microsoft.Exchange.Data.ObjectId", "System.Object"],
        request_id.hex,
    )
    props += [
        ("Identity", ident),
        ("IsValid", True),
        ("ObjectState", clixml.enum_value("Microsoft.Exchange.Data.ObjectState", "New", 0)),
    ]
    obj = clixml.complex_object(
        ["Microsoft.Office.Datacenter.ActiveMonitoring.Management.Common.MonitoringProbeResult",
         "Microsoft.Exchange.Data.ConfigurableObject", "System.Object"],
        request_id.hex,
        props,
        [("PSComputerName", server.fqdn.lower()), ("RunspaceId", runspace_id), ("PSShowComputerName", False)],
    )
    return clixml.RawObject.from_element(obj)


def binary_file_data(data: bytes, server: Server, runspace_id: uuid.UUID) -> clixml.RawObject:
    """What Export-ExchangeCertificate returns over remoting: the bytes in `FileData`."""
    obj = clixml.complex_object(
        ["Microsoft.Exchange.Data.BinaryFileDataObject", "Microsoft.Exchange.Data.ConfigurableObject", "System.Object"],
        "",
        [("FileData", data), ("Identity", None), ("IsValid", True),
         ("ObjectState", clixml.enum_value("Microsoft.Exchange.Data.ObjectState", "New", 0))],
        [("PSComputerName", server.fqdn.lower()), ("RunspaceId", runspace_id), ("PSShowComputerName", False)],
    )
    return clixml.RawObject.from_element(obj)


def powershell_virtual_directory(org: Organisation, server: Server, via: Server,
                                 runspace_id: uuid.UUID) -> clixml.RawObject:
    """`Get-PowerShellVirtualDirectory`: /PowerShell's authentication switches (the organisation's state).

    Not from a capture: type name and property names from the cmdlet's documented output; the order and the
    values other than the switches (Kerberos-only defaults of a fresh install) are assumptions (README.md).
    """
    vdir = org.powershell_vdir
    methods = ["Kerberos"] + (["Basic"] if vdir.basic_authentication else []) + (
        ["Ntlm", "WindowsIntegrated"] if vdir.windows_authentication else [])
    name = "PowerShell (Default Web Site)"
    specific: list[tuple[str, object]] = [
        ("CertificateAuthentication", True),
        ("RequireSSL", False),
        ("MetabasePath", f"IIS://{server.fqdn}/W3SVC/1/ROOT/PowerShell"),
        ("Path", "C:\\Program Files\\Microsoft\\Exchange Server\\V15\\ClientAccess\\PowerShell"),
        ("Server", server.name),
        ("InternalUrl", f"http://{server.fqdn}/powershell"),
        ("InternalAuthenticationMethods", clixml.multi_valued(clixml.STRING_LIST_TYPES, methods)),
        ("ExternalUrl", None),
        ("ExternalAuthenticationMethods", clixml.multi_valued(clixml.STRING_LIST_TYPES, methods)),
        ("BasicAuthentication", vdir.basic_authentication),
        ("WindowsAuthentication", vdir.windows_authentication),
        ("DigestAuthentication", False),
        ("LiveIdNegotiateAuthentication", False),
        ("LiveIdBasicAuthentication", False),
        ("OAuthAuthentication", False),
        ("AdfsAuthentication", False),
    ]
    obj = _ad_configuration_object(
        org, via, runspace_id,
        ["Microsoft.Exchange.Data.Directory.SystemConfiguration.ADPowerShellVirtualDirectory",
         "Microsoft.Exchange.Data.Directory.SystemConfiguration.ADExchangeServiceVirtualDirectory",
         "Microsoft.Exchange.Data.Directory.SystemConfiguration.ADVirtualDirectory",
         "Microsoft.Exchange.Data.Directory.SystemConfiguration.ADConfigurationObject",
         "Microsoft.Exchange.Data.Directory.ADObject", "Microsoft.Exchange.Data.Directory.ADRawEntry",
         "Microsoft.Exchange.Data.ConfigurableObject", "System.Object"],
        name, f"CN=HTTP,CN=Protocols,CN={server.name},CN=Servers", ["top", "msExchVirtualDirectory",
                                                                   "msExchPowerShellVirtualDirectory"],
        "ms-Exch-PowerShell-Virtual-Directory", specific,
    )
    clixml.set_to_string(obj, f"{server.name}\\{name}")
    return clixml.RawObject.from_element(obj)


def process(name: str, started: dt.datetime, server: Server, runspace_id: uuid.UUID) -> clixml.RawObject:
    """A System.Diagnostics.Process as Get-Process returns it over remoting (the fields read here only)."""
    obj = clixml.complex_object(
        ["System.Diagnostics.Process", "System.ComponentModel.Component", "System.MarshalByRefObject", "System.Object"],
        f"System.Diagnostics.Process ({name})",
        [("ProcessName", name), ("StartTime", started), ("Id", 4242)],
        [("PSComputerName", server.fqdn.lower()), ("RunspaceId", runspace_id), ("PSShowComputerName", False)],
    )
    return clixml.RawObject.from_element(obj)



def _capture_of(name: str, org: Organisation, server: Server, swaps: tuple[tuple[str, str], ...] = ()) -> ET.Element:
    """A capture from another lab (365labs.net, server EX-02: the CSS-Exchange test data), renamed to ours."""
    text = _template_text(name)
    dc = ",".join(f"DC={part}" for part in org.realm.split("."))
    for old, new in (*swaps, ("DC=365labs,DC=net", dc), ("ex-02.365labs.net", server.fqdn.lower()),
                     ("dc-01.365labs.net", f"dc1.{org.realm}"), ("365labs.net", org.realm)):
        text = text.replace(old, new)
    obj = clixml.compact(clixml.load_capture_text(text)[0])
    # This capture defines some type chains inside objects pypsrp reads only in part (the ADObjectId lists): spell
    # every type reference out in full, which PowerShell accepts as well.
    defined = {tn.get("RefId"): tn for tn in obj.iter("TN")}
    for parent in list(obj.iter()):
        for index, child in enumerate(list(parent)):
            if child.tag == "TNRef" and child.get("RefId") in defined:
                parent[index] = copy.deepcopy(defined[str(child.get("RefId"))])
    return obj


def setting_override(org: Organisation, override, server: Server, runspace_id: uuid.UUID) -> clixml.RawObject:  # type: ignore[no-untyped-def]
    """A SettingOverride, from the capture of the dedicated hybrid app's override (GetSettingOverride2.xml)."""
    obj = _capture_of("e19-GetSettingOverride.xml", org, server, (
        ("EnableExchangeHybrid3PAppFeature", override.name),
        ("ExchangeOnpremAsThirdPartyAppId", override.section),
        ('CN="Global"', f'CN="{override.component}"'),
    ))
    clixml.set_text(obj, "ComponentName", override.component)
    clixml.set_text(obj, "Reason", override.reason)
    clixml.set_prop(obj, "Parameters", clixml.multi_valued(clixml.STRING_LIST_TYPES, list(override.parameters)))
    _stamp(obj, server, runspace_id)
    return clixml.RawObject.from_element(clixml.renumber(obj))


def hybrid_configuration(org: Organisation, server: Server, runspace_id: uuid.UUID) -> clixml.RawObject:
    """The HybridConfiguration, from the capture (GetHybridConfiguration.xml), with this organisation's Features."""
    from emulators.exchange.organisation import HYBRID_FEATURES

    obj = _capture_of("e19-GetHybridConfiguration.xml", org, server)
    # Rewrite the captured Features list in place: its type chains stay the captured ones.
    lst = clixml.prop(obj, "Features").find("LST")
    assert lst is not None
    first = copy.deepcopy(lst[0])
    for child in list(lst):
        lst.remove(child)
    for feature in org.hybrid_features or []:
        item = copy.deepcopy(first)
        clixml.set_to_string(item, feature)
        number = item.find("I32")
        assert number is not None
        number.text = str(HYBRID_FEATURES.index(feature))
        lst.append(item)
    _stamp(obj, server, runspace_id)
    return clixml.RawObject.from_element(clixml.renumber(obj))
