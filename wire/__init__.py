"""Kafka wire protocol: schema-described messages, their codecs, record batches. No I/O, no broker logic."""
