"""Long fuzzing of the wire decoders (`make fuzz`, not part of `make test`): `python -m tests.fuzz --help`."""
