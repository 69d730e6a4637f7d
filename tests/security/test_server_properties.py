"""The issue's server.properties, with exactly Kafka's keys, run by `kbroker serve --config FILE`: SCRAM users
created through the PLAINTEXT listener (User:ANONYMOUS is a super user) log in on the SASL one, where the
authorizer applies their ACLs."""
from __future__ import annotations

import re
import uuid

import pytest
from confluent_kafka import KafkaError, Producer
from confluent_kafka.admin import (AclBinding, AclOperation, AclPermissionType, AdminClient, ConfigResource,
                                   ResourcePatternType, ResourceType)

from kbroker.testing.brokers import SubprocessBroker
from kbroker.testing.security import SecureSetup

PROPERTIES = """\
listeners=PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0
advertised.listeners=PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL
sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512
ssl.keystore.type=PEM
ssl.keystore.location={keystore}
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:ANONYMOUS
allow.everyone.if.no.acl.found=false
"""


@pytest.fixture
def served(tmp_path):
    sec = SecureSetup(tmp_path / "pki")
    props = tmp_path / "server.properties"
    props.write_text(PROPERTIES.format(keystore=sec.server.keystore_path))
    broker = SubprocessBroker(tmp_path / "data", "--config", str(props)).start()
    try:
        ready = next(line for line in broker.output if "kbroker ready" in line)
        first = re.search(r"listening on 127\.0\.0\.1:(\d+)", ready).group(1)
        others = re.findall(r", (\w+) on 127\.0\.0\.1:(\d+)", ready)
        endpoints = {"PLAINTEXT": f"127.0.0.1:{first}", **{name: f"127.0.0.1:{port}" for name, port in others}}
        yield sec, endpoints
    finally:
        broker.stop()


def test_issue_server_properties(served):
    sec, endpoints = served
    assert set(endpoints) == {"PLAINTEXT", "SASL_PLAINTEXT", "SSL"}
    admin = AdminClient({"bootstrap.servers": endpoints["PLAINTEXT"]})
    from confluent_kafka.admin import ScramCredentialInfo, ScramMechanism, UserScramCredentialUpsertion
    for fut in admin.alter_user_scram_credentials([UserScramCredentialUpsertion(
            "alice", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192), b"alice-secret")],
            request_timeout=15).values():
        fut.result(timeout=15)
    alice = {"bootstrap.servers": endpoints["SASL_PLAINTEXT"], "security.protocol": "SASL_PLAINTEXT",
             "sasl.mechanisms": "SCRAM-SHA-512", "sasl.username": "alice", "sasl.password": "alice-secret",
             "message.timeout.ms": 8000}
    topic = f"orders-{uuid.uuid4().hex[:6]}"

    def produce(settings):
        errors = []
        p = Producer(settings)
        p.produce(topic, b"x", on_delivery=lambda err, msg: errors.append(err))
        p.flush(15)
        return errors

    assert produce({"bootstrap.servers": endpoints["PLAINTEXT"]}) == [None]  # the super user creates the topic
    errs = produce(alice)
    assert errs and errs[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED  # no ACL, nobody but super users
    for fut in admin.create_acls([AclBinding(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, "User:alice",
                                             "*", AclOperation.WRITE, AclPermissionType.ALLOW)],
                                 request_timeout=15).values():
        fut.result(timeout=15)
    assert produce(alice) == [None]
    ssl_client = {"bootstrap.servers": endpoints["SSL"], "security.protocol": "SSL",
                  "ssl.ca.location": str(sec.ca.cert_path)}
    assert produce(ssl_client) == [None]  # ANONYMOUS over TLS: a super user
    # DescribeConfigs reports the listeners the broker uses
    res = admin.describe_configs([ConfigResource(ConfigResource.Type.BROKER, "1")], request_timeout=15)
    configs = next(iter(res.values())).result(timeout=15)
    assert configs["listeners"].value.startswith("PLAINTEXT://127.0.0.1:")
    assert configs["listener.security.protocol.map"].value == \
        "PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL"


@pytest.mark.parametrize("line,message", [
    ("listeners=SSL://127.0.0.1:0\nssl.keystore.type=JKS\nssl.keystore.location=/nonexistent.jks",
     "ssl.keystore.type=JKS is not supported"),
    ("listeners=SASL_PLAINTEXT://127.0.0.1:0\nsasl.enabled.mechanisms=GSSAPI", "none of sasl.enabled.mechanisms"),
    ("listeners=FOO://127.0.0.1:0", "No security protocol defined for listener FOO"),
    ("authorizer.class.name=com.example.MyAuthorizer", "is not supported"),
])
def test_bad_security_settings_stop_the_start_clearly(tmp_path, line, message):
    import subprocess
    import sys
    props = tmp_path / "server.properties"
    props.write_text(line + "\n")
    out = subprocess.run([sys.executable, "-m", "kbroker", "serve", "--in-memory", "--config", str(props)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and message in out.stderr, out.stderr[-2000:]
