"""The listener's memory bound leans on anyio's asyncio stream internals (kbroker/server/listener.py: the accept
loop pauses the transport and caps its read size; _receive pauses it again after each read and looks at the
protocol's queue). Those are private: if an anyio upgrade renames them the listener silently stops bounding what
a connection holds, so this test fails first."""
from __future__ import annotations

import anyio
from anyio.abc import SocketAttribute


async def _check() -> None:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tg:
        accepted: list = []

        async def accept_one() -> None:
            accepted.append(await listener.listeners[0].accept())

        tg.start_soon(accept_one)
        client = await anyio.connect_tcp("127.0.0.1", port)
        with anyio.fail_after(10):
            while not accepted:
                await anyio.sleep(0.01)
        stream = accepted[0]
        transport = getattr(stream, "_transport", None)
        assert transport is not None, "anyio's asyncio SocketStream no longer has _transport"
        assert callable(transport.pause_reading) and callable(transport.is_reading)
        assert hasattr(transport, "max_size"), "the asyncio transport no longer has max_size"
        protocol = getattr(stream, "_protocol", None)
        assert protocol is not None and hasattr(protocol, "read_queue"), "anyio's stream protocol lost read_queue"
        await client.aclose()
        await stream.aclose()


def test_the_private_attributes_the_listener_relies_on_exist() -> None:
    anyio.run(_check, backend="asyncio")
