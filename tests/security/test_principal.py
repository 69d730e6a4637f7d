"""Certificate subjects as RFC 2253 names and Kafka's ssl.principal.mapping.rules."""
from __future__ import annotations

import pytest

from kbroker.security.principal import PrincipalMapper, parse_principal, subject_dn


def test_subject_dn_is_rfc2253_most_specific_first():
    cert = {"subject": ((("countryName", "US"),), (("organizationName", "Acme, Inc"),),
                        (("organizationalUnitName", "eng"),), (("commonName", "client"),))}
    assert subject_dn(cert) == "CN=client,OU=eng,O=Acme\\, Inc,C=US"


def test_subject_dn_email_as_oid_hex():
    cert = {"subject": ((("emailAddress", "a@b"),), (("commonName", "x"),))}
    assert subject_dn(cert) == "CN=x,1.2.840.113549.1.9.1=#1603614062"


# the examples of Kafka's documentation for ssl.principal.mapping.rules
@pytest.mark.parametrize("rules,dn,name", [
    ("DEFAULT", "CN=kafka-server1,OU=KAFKA", "CN=kafka-server1,OU=KAFKA"),
    ("RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L,"
     "RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/L,DEFAULT",
     "CN=serviceuser,OU=ServiceUsers,O=Unknown,L=Unknown,ST=Unknown,C=Unknown", "serviceuser"),
    ("RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L,"
     "RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/L,DEFAULT",
     "CN=adminUser,OU=Admin,O=Unknown,L=Unknown,ST=Unknown,C=Unknown", "adminuser@admin"),
    ("RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/U", "CN=a,OU=b,O=c,L=d,ST=e,C=f", "A@B"),
    ("RULE:^CN=([^,]*).*$/user-\\$$1/", "CN=x,O=y", "user-$x"),
    ("RULE:^CN=(.*)$/$1/, DEFAULT", "OU=none", "OU=none"),
])
def test_mapping_rules(rules, dn, name):
    assert PrincipalMapper(rules).name(dn) == name


def test_no_matching_rule_fails():
    with pytest.raises(ValueError):
        PrincipalMapper("RULE:^CN=(.*)$/$1/").name("OU=x")


@pytest.mark.parametrize("rules", ["RULE:abc", "NOPE", "RULE:a/b/X"])
def test_invalid_rules(rules):
    with pytest.raises(ValueError):
        PrincipalMapper(rules)


def test_parse_principal():
    assert parse_principal("User:alice") == ("User", "alice")
    assert parse_principal("User:CN=a,O=b") == ("User", "CN=a,O=b")
    with pytest.raises(ValueError):
        parse_principal("alice")
