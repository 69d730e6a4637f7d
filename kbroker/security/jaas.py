"""Kafka's `sasl.jaas.config` text: `<LoginModule class> <flag> key="value" ...;` parsed into options."""
from __future__ import annotations

import re

_ENTRY = re.compile(r'\s*([A-Za-z0-9_.$-]+)\s+(required|requisite|sufficient|optional)\s*(.*?)\s*;\s*$', re.S)
_OPTION = re.compile(r'\s*([^\s=]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s";]+)')


def parse_jaas(text: str) -> tuple[str, dict[str, str]]:
    """One login module entry: (module class, options). Raises ValueError on text Kafka's JaasConfig rejects."""
    m = _ENTRY.match(text or "")
    if not m:
        raise ValueError(f"Invalid JAAS config: expected '<LoginModule> required key=\"value\" ...;' in {text!r}")
    module, _flag, rest = m.groups()
    options: dict[str, str] = {}
    pos = 0
    while pos < len(rest):
        if rest[pos:].strip() == "":
            break
        om = _OPTION.match(rest, pos)
        if not om:
            raise ValueError(f"Invalid JAAS config option near {rest[pos:]!r}")
        key, value = om.groups()
        if value.startswith('"'):
            value = re.sub(r'\\(.)', r'\1', value[1:-1])
        options[key] = value
        pos = om.end()
    return module, options


def plain_users(options: dict[str, str]) -> dict[str, str]:
    """PlainLoginModule's `user_<name>="<password>"` entries (PlainServerCallbackHandler's user store)."""
    return {k[len("user_"):]: v for k, v in options.items() if k.startswith("user_")}
