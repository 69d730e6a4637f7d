"""Kafka's listener settings: `listeners`, `advertised.listeners`, `listener.security.protocol.map`,
`inter.broker.listener.name` / `security.inter.broker.protocol`, parsed and checked as Kafka's KafkaConfig does.

A listener is NAME://host:port. Its security protocol comes from the map, or is the name itself when the name is
one of the four protocols. An empty host binds every interface; an advertised listener without a host is
advertised under the machine's name, as Kafka does.
"""
from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from typing import Mapping

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
DEFAULT_MAP = "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL"
_LISTENER = re.compile(r"^(?P<name>[A-Za-z0-9_.-]+)://(?P<host>\[[0-9a-fA-F:.]+\]|[^:\[\]]*):(?P<port>-?\d+)$")


class ListenerConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Listener:
    name: str
    host: str
    port: int
    protocol: str

    @property
    def tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def sasl(self) -> bool:
        return self.protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.name}://{host}:{self.port}"


def parse_protocol_map(text: str | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in (text if text is not None else DEFAULT_MAP).split(","):
        item = item.strip()
        if not item:
            continue
        name, sep, proto = item.partition(":")
        name, proto = name.strip().upper(), proto.strip().upper()
        if not sep or not name or proto not in PROTOCOLS:
            raise ListenerConfigError(f"Invalid value {text} for configuration listener.security.protocol.map: "
                                      f"'{item}' is not LISTENER_NAME:SECURITY_PROTOCOL")
        if name in out:
            raise ListenerConfigError(f"Invalid value {text} for configuration listener.security.protocol.map: "
                                      f"listener {name} appears twice")
        out[name] = proto
    return out


def parse_listeners(text: str, protocol_map: Mapping[str, str], key: str = "listeners") -> list[Listener]:
    result: list[Listener] = []
    for item in [i.strip() for i in (text or "").split(",") if i.strip()]:
        m = _LISTENER.match(item)
        if not m:
            raise ListenerConfigError(f"Error creating broker listeners from '{text}': Unable to parse {item} to a "
                                      "broker endpoint")
        name = m.group("name").upper()
        protocol = protocol_map.get(name) or (name if name in PROTOCOLS else None)
        if protocol is None:
            raise ListenerConfigError(f"No security protocol defined for listener {name} (set "
                                      "listener.security.protocol.map)")
        port = int(m.group("port"))
        if not 0 <= port <= 65535:
            raise ListenerConfigError(f"Invalid port {port} in {key}")
        host = m.group("host").strip("[]")
        result.append(Listener(name, host, port, protocol))
    names = [lst.name for lst in result]
    if len(set(names)) != len(names):
        raise ListenerConfigError(f"Each listener must have a different name, {key} = {text}")
    if key == "listeners":
        ports = [lst.port for lst in result if lst.port != 0]
        if len(set(ports)) != len(ports):
            raise ListenerConfigError(f"Each listener must have a different port, listeners = {text}")
    return result


@dataclass(frozen=True)
class ListenerSetup:
    listeners: list[Listener]
    advertised: list[Listener]
    protocol_map: dict[str, str]
    inter_broker: str

    def advertised_for(self, name: str) -> Listener | None:
        return next((a for a in self.advertised if a.name == name), None)

    def listener(self, name: str) -> Listener:
        return next(lst for lst in self.listeners if lst.name == name)


def listener_setup(settings: Mapping[str, str | None]) -> ListenerSetup:
    """From the raw settings (None or missing: Kafka's default)."""
    protocol_map = parse_protocol_map(settings.get("listener.security.protocol.map"))
    listeners = parse_listeners(settings.get("listeners") or "PLAINTEXT://:9092", protocol_map)
    if not listeners:
        raise ListenerConfigError("listeners must name at least one listener")
    adv_text = settings.get("advertised.listeners")
    advertised = parse_listeners(adv_text, protocol_map, "advertised.listeners") if adv_text else list(listeners)
    names = {lst.name for lst in listeners}
    for adv in advertised:
        if adv.name not in names:
            raise ListenerConfigError(f"advertised.listeners listener names must be equal to or a subset of the ones "
                                      f"defined in listeners. Found {adv.name}. The valid options based on the "
                                      f"current configuration are {','.join(sorted(names))}")
    ibl, sibp = settings.get("inter.broker.listener.name"), settings.get("security.inter.broker.protocol")
    if ibl and sibp:
        raise ListenerConfigError("Only one of inter.broker.listener.name and security.inter.broker.protocol should "
                                  "be set.")
    inter = (ibl or sibp or "PLAINTEXT").upper()
    if (ibl or sibp or any(lst.name == "PLAINTEXT" for lst in listeners)) and inter not in names:
        raise ListenerConfigError(f"inter.broker.listener.name must be a listener name defined in "
                                  f"advertised.listeners. The valid options based on currently configured listeners "
                                  f"are {','.join(sorted(names))}")
    if inter not in names:
        inter = listeners[0].name  # a broker without a PLAINTEXT listener and without a setting: its first listener
    return ListenerSetup(listeners, advertised, protocol_map, inter)


def advertised_host(listener: Listener) -> str:
    """The host a client is told: the advertised one, else the machine's name for a wildcard bind."""
    if listener.host and listener.host not in ("0.0.0.0", "::"):
        return listener.host
    return socket.getfqdn()
