"""Who may talk to whom, for in-process clusters: the network partition a test injects with isolate()/heal().

An isolated broker keeps serving its clients, but its follower fetchers cannot reach the other brokers and the
other brokers' fetches to it are refused, as if a switch between the brokers failed. (Its store session is cut
off separately, by the store's own isolate().) A broker in a real deployment has a Network with nobody isolated.
"""
from __future__ import annotations


class Network:
    def __init__(self) -> None:
        self.isolated: set[int] = set()

    def can_reach(self, source: int, target: int) -> bool:
        return source == target or (source not in self.isolated and target not in self.isolated)
