"""Exchange build numbers: parse AdminDisplayVersion, name the release, decide the CU3 gate.

The push-notification proxy needs Exchange 2013 CU3 (15.0.775.38) or later on every Mailbox/CAS server.
The release names come from a copy of CSS-Exchange's build table kept as package data (data/exchange-builds.json).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

# "Version 15.2 (Build 986.5)" or "Version 15.2 (Build 1544.4: <FilePatchLevelDescription>)" (ServerVersion.ToString)
# (the description may itself hold parentheses: "... SU3 (KB5049233)", so it runs to the last ")")
_SERVER_VERSION = re.compile(r"^\s*Version\s+(\d+)\.(\d+)\s*\(\s*Build\s+(\d+)\.(\d+)\s*(?::.*)?\)\s*$", re.IGNORECASE | re.DOTALL)
# "15.2.986.5", also zero-padded "15.02.0986.005" as some tools print it
_DOTTED = re.compile(r"^\s*(\d+)\.(\d+)\.(\d+)\.(\d+)\s*$")

_PRODUCT_NAMES = {"Exchange2013": "Exchange 2013", "Exchange2016": "Exchange 2016", "Exchange2019": "Exchange 2019", "ExchangeSE": "Exchange SE"}


@dataclass(frozen=True, order=True)
class Build:
    """An Exchange build, compared numerically field by field (15.0.775.38 < 15.0.1497.2)."""

    major: int
    minor: int
    build: int
    revision: int

    def __post_init__(self) -> None:
        for name in ("major", "minor", "build", "revision"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name}: must be a non-negative integer, not {value!r}")

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.build}.{self.revision}"

    @classmethod
    def parse(cls, text: str) -> Build:
        """`15.2.986.5` (or zero-padded). Raises ValueError on anything else."""
        m = _DOTTED.match(text)
        if not m:
            raise ValueError(f"not a build number: {text!r}")
        return cls(*(int(g) for g in m.groups()))


MINIMUM_BUILD = Build(15, 0, 775, 38)  # Exchange 2013 CU3


def parse_admin_display_version(value: Any) -> Build:
    """The build from AdminDisplayVersion, whether it arrived as a ServerVersion object or as a string.

    A ServerVersion object (pypsrp GenericComplexObject) carries Major/Minor/Build/Revision; depth-limited
    serialisation may send only its ToString, which may end in `: description`. Raises ValueError otherwise.
    """
    props = getattr(value, "adapted_properties", None)
    if isinstance(props, dict) and all(isinstance(props.get(k), int) for k in ("Major", "Minor", "Build", "Revision")):
        return Build(props["Major"], props["Minor"], props["Build"], props["Revision"])
    text = getattr(value, "to_string", None) if props is not None else value
    if text is None and props is not None:
        text = str(value)
    if not isinstance(text, str):
        raise ValueError(f"AdminDisplayVersion has no usable form: {type(value).__name__}")
    m = _SERVER_VERSION.match(text)
    if m:
        major, minor, build, revision = (int(g) for g in m.groups())
        return Build(major, minor, build, revision)
    return Build.parse(text)


# The first build of each CU line that supports the dedicated Exchange hybrid application (the April 2025 HU; SE RTM
# has it from the start): Microsoft Learn "Deploy dedicated Exchange hybrid app", as in
# /work/briefs/research/hybrid-app-notes.md. Exchange 2013 and older CUs of 2016/2019 never get it. CSS-Exchange's
# ConfigureExchangeHybridApplication.ps1 checks the same ("-MinimumSU Apr25HU", every build from 2019 CU15 on).
DEDICATED_HYBRID_APP_BUILDS: tuple[tuple[Build, Build], ...] = (
    # (first supporting build, first build of the next CU line): a build in [first, next) supports it
    (Build(15, 1, 2507, 55), Build(15, 2, 0, 0)),  # Exchange 2016 CU23 Apr25HU (the last 2016 CU)
    (Build(15, 2, 1544, 25), Build(15, 2, 1748, 0)),  # Exchange 2019 CU14 Apr25HU
    (Build(15, 2, 1748, 24), Build(16, 0, 0, 0)),  # Exchange 2019 CU15 Apr25HU, and SE (15.2.2562.17 and later)
)


def supports_dedicated_hybrid_app(build: Build) -> bool:
    """Whether Exchange on this build can use the dedicated Exchange hybrid application (April 2025 HU or later)."""
    return any(first <= build < end for first, end in DEDICATED_HYBRID_APP_BUILDS)


def meets_minimum(build: Build) -> bool:
    """True when the push-notification proxy is supported on this build (Exchange 2013 CU3 or later)."""
    return build >= MINIMUM_BUILD


@dataclass(frozen=True)
class _Release:
    build: Build
    name: str
    is_cu: bool  # a cumulative update itself (not an SU/HU on top)


@cache
def _releases() -> tuple[_Release, ...]:
    data = json.loads(resources.files("pushproxy").joinpath("data/exchange-builds.json").read_text(encoding="utf-8"))
    out: list[_Release] = []
    for product_key, cus in data["products"].items():
        product = _PRODUCT_NAMES.get(product_key, product_key)
        for cu, info in cus.items():
            out.append(_Release(Build.parse(info["build"]), f"{product} {cu}", True))
            for su, su_build in info.get("security_updates", {}).items():
                out.append(_Release(Build.parse(su_build), f"{product} {cu} {su}", False))
    # Sort by build; at equal builds the CU itself first (2013 CU22 and its Feb19SU share 15.0.1473.3).
    out.sort(key=lambda r: (r.build, not r.is_cu))
    return tuple(out)


def _product_of(build: Build) -> str | None:
    if (build.major, build.minor) == (15, 0):
        return "Exchange 2013"
    if (build.major, build.minor) == (15, 1):
        return "Exchange 2016"
    if (build.major, build.minor) == (15, 2):
        se = next(r.build for r in _releases() if r.name.startswith("Exchange SE"))
        return "Exchange SE" if build >= se else "Exchange 2019"
    return None


def release_name(build: Build) -> str | None:
    """The release this build is: "Exchange 2013 CU23 Mar23SU", "Exchange 2019 CU15", "Exchange SE RTM".

    A build between two listed ones is named after the release below it with `+` (an update the table doesn't
    list yet); a build of another major version, or below every listed one, gives a plain product name or None.
    """
    product = _product_of(build)
    if product is None:
        return "Exchange 2010 or earlier" if build.major < 15 else None
    below = [r for r in _releases() if r.build <= build and r.name.startswith(product + " ")]
    if not below:
        return f"{product} (before CU1)"
    exact = [r for r in below if r.build == build]
    if exact:
        return exact[0].name
    return f"{below[-1].name}+ ({build})"
