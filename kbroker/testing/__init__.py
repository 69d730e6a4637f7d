"""kbroker for tests: brokers you start from Python, a pytest plugin (the `kafka_broker` fixture, registered
through the `pytest11` entry point) and a testcontainers module (kbroker.testing.container).

    from kbroker.testing import KafkaBroker
    with KafkaBroker.start() as kafka:
        print(kafka.bootstrap)

Nothing here imports pytest or a Kafka client until it is used.
"""
from kbroker.testing.brokers import (
    FaultControl,
    InProcessBroker,
    KafkaBroker,
    LocalFaults,
    RemoteFaults,
    SubprocessBroker,
)
from kbroker.testing.client import KafkaRequestError, Message, WireClient

BrokerProcess = SubprocessBroker  # the name kbroker's own tests know it by

__all__ = [
    "BrokerProcess",
    "FaultControl",
    "InProcessBroker",
    "KafkaBroker",
    "KafkaRequestError",
    "LocalFaults",
    "Message",
    "RemoteFaults",
    "SubprocessBroker",
    "WireClient",
]
