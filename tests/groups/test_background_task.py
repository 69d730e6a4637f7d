"""The coordinator's background task (`GroupCoordinator.run`) in a broker running in-process, as the app starts
it: deadlines fire with no request arriving (a silent group's members expire on their own)."""
from __future__ import annotations

import anyio

from kbroker.app import Settings, start_broker
from kbroker.config import BrokerConfig
from kbroker.coordinator import group_coordinator
from tests.groups.conftest import Raw, unique
from tests.groups.test_group_protocol import join, sync


def test_run_expires_sessions_without_requests(tmp_path) -> None:
    async def main() -> None:
        config = BrokerConfig({"group.min.session.timeout.ms": "200"})
        settings = Settings(host="127.0.0.1", port=0, data_dir=tmp_path / "data")
        async with start_broker(settings, config) as running:
            coordinator = group_coordinator(running.broker)
            async with anyio.create_task_group() as tg:
                if not coordinator._running:  # the app may already run it
                    await tg.start(coordinator.run)
                group = unique("g")

                def members_join() -> None:
                    with Raw(running.bootstrap) as c:
                        r = join(c, group, session=300)
                        sync(c, group, r["generation_id"], r["member_id"], [(r["member_id"], b"x")])

                await anyio.to_thread.run_sync(members_join)
                assert coordinator.describe_group(group, 5)["group_state"] == "Stable"
                # nothing but the coordinator's own timer task can expire the session now (no upper time bound:
                # a loaded machine is slow, not wrong)
                with anyio.fail_after(30):
                    while coordinator.groups[group].state_name != "Empty":  # type: ignore[union-attr]
                        await anyio.sleep(0.05)
                tg.cancel_scope.cancel()

    anyio.run(main)
