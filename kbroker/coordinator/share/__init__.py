"""Share groups (KIP-932): queues on Kafka topics. See coordinator.ShareCoordinator; `share_coordinator(broker)`
gives the one of a broker."""
from kbroker.coordinator.share.coordinator import ShareCoordinator, share_coordinator

__all__ = ["ShareCoordinator", "share_coordinator"]
