"""Security: TLS contexts, SASL server mechanisms, principals and the ACL authorizer, as Kafka's listeners,
authenticators and StandardAuthorizer do them. Nothing here knows about sockets or handlers: the listener and the
handlers use these pieces."""
