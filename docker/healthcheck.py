#!/usr/bin/env python3
"""Exit 0 when a broker answers ApiVersions v0 at HOST:PORT (default 127.0.0.1:9092) without error."""
import socket
import struct
import sys


def main() -> int:
    host, _, port = (sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:9092").rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=2) as sock:
            request = struct.pack(">hhih", 18, 0, 1, -1)  # ApiVersions v0, correlation 1, null client id
            sock.sendall(struct.pack(">i", len(request)) + request)
            header = b""
            while len(header) < 10:
                chunk = sock.recv(10 - len(header))
                if not chunk:
                    return 1
                header += chunk
            size, correlation, error = struct.unpack(">iih", header)
            return 0 if correlation == 1 and error == 0 else 1
    except (OSError, struct.error):
        return 1


if __name__ == "__main__":
    sys.exit(main())
