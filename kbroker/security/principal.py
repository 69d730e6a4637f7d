"""Principals: Kafka's `User:<name>` form, the subject of a client certificate as Java's X500Principal prints it
(RFC 2253), and `ssl.principal.mapping.rules` (Kafka's SslPrincipalMapper rule syntax)."""
from __future__ import annotations

import re
from dataclasses import dataclass

ANONYMOUS = "User:ANONYMOUS"

# keys Java's X500Principal.getName(RFC2253) prints by keyword; others it prints by OID
_KEYWORDS = {"commonName": "CN", "countryName": "C", "localityName": "L", "stateOrProvinceName": "ST",
             "organizationName": "O", "organizationalUnitName": "OU", "streetAddress": "STREET",
             "domainComponent": "DC", "userId": "UID"}
_OIDS = {"emailAddress": "1.2.840.113549.1.9.1", "serialNumber": "2.5.4.5", "title": "2.5.4.12",
         "givenName": "2.5.4.42", "surname": "2.5.4.4", "initials": "2.5.4.43", "pseudonym": "2.5.4.65",
         "generationQualifier": "2.5.4.44", "dnQualifier": "2.5.4.46", "postalCode": "2.5.4.17"}


def _escape(value: str) -> str:
    out = re.sub(r'([,+"\\<>;])', r"\\\1", value)
    if out.startswith(("#", " ")):
        out = "\\" + out
    if out.endswith(" ") and not out.endswith("\\ "):
        out = out[:-1] + "\\ "
    return out


def _ia5_hex(value: str) -> str:
    data = value.encode()
    return "#16" + f"{len(data):02x}" + data.hex()


def subject_dn(peercert: dict) -> str:
    """RFC 2253 distinguished name of `ssl.SSLSocket.getpeercert()`'s subject: most specific RDN first."""
    rdns = []
    for rdn in reversed(peercert.get("subject", ())):
        parts = []
        for key, value in rdn:
            if key in _KEYWORDS:
                parts.append(f"{_KEYWORDS[key]}={_escape(value)}")
            elif key in _OIDS:
                parts.append(f"{_OIDS[key]}={_ia5_hex(value)}")
            else:
                parts.append(f"{key}={_escape(value)}")
        rdns.append("+".join(parts))
    return ",".join(rdns)


@dataclass(frozen=True)
class _Rule:
    pattern: re.Pattern[str] | None  # None: DEFAULT
    replacement: object = None
    case: str = ""


_RULE = re.compile(r"\s*(?:(DEFAULT)|RULE:((?:\\.|[^\\/])*)/((?:\\.|[^\\/])*)/([LU]?))\s*(?:,|$)")


class PrincipalMapper:
    """`ssl.principal.mapping.rules`: the first rule whose regex matches the whole DN makes the name
    (`$1`-style groups, optional /L or /U); DEFAULT keeps the DN. No matching rule fails the authentication."""

    def __init__(self, rules: str | None = "DEFAULT") -> None:
        text = (rules or "DEFAULT").strip()
        self.rules: list[_Rule] = []
        pos = 0
        while pos < len(text):
            m = _RULE.match(text, pos)
            if not m or m.end() == pos:
                raise ValueError(f"Invalid rule: {text[pos:]}")
            if m.group(1):
                self.rules.append(_Rule(None))
            else:
                self.rules.append(_Rule(re.compile(m.group(2)), _java_replacement(m.group(3)), m.group(4)))
            pos = m.end()

    def name(self, dn: str) -> str:
        for rule in self.rules:
            if rule.pattern is None:
                return dn
            if rule.pattern.fullmatch(dn):
                out = rule.pattern.sub(rule.replacement, dn)
                return out.lower() if rule.case == "L" else out.upper() if rule.case == "U" else out
        raise ValueError(f"No rules apply to {dn}, rules {self.rules}")


def _java_replacement(text: str):
    """Java's Matcher replacement syntax (`$1` groups, `\\x` literal x) as a Python replacement function."""
    parts: list[str | int] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            parts.append(text[i + 1])
            i += 2
        elif c == "$" and i + 1 < len(text) and text[i + 1].isdigit():
            j = i + 1
            while j < len(text) and text[j].isdigit():
                j += 1
            parts.append(int(text[i + 1:j]))
            i = j
        else:
            parts.append(c)
            i += 1
    return lambda m: "".join(p if isinstance(p, str) else (m.group(p) or "") for p in parts)


def user(name: str) -> str:
    return f"User:{name}"


def parse_principal(text: str) -> tuple[str, str]:
    """`Type:name` -> (type, name); ValueError if there is no type, as Kafka's SecurityUtils.parseKafkaPrincipal."""
    if not text or ":" not in text:
        raise ValueError(f"Could not parse principal from `{text}` (no colon is present separating the principal "
                         "type from the principal name)")
    kind, name = text.split(":", 1)
    if not kind:
        raise ValueError(f"Could not parse principal from `{text}`")
    return kind, name
