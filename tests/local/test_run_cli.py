"""`sfidl run`'s own options: a bad value is a usage error naming it, never a traceback."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from sfidl.cli import main
from sfidl.local.errors import LocalRuntimeError
from sfidl.local.run import LocalRuntime, RunOptions
from tests.local.apps import demo_app


@pytest.mark.parametrize(
    ("argument", "why"),
    [
        (["--idle-horizon", "soon"], "argument --idle-horizon: 'soon' is not a duration: a number"),
        (["--idle-horizon", "5"], "argument --idle-horizon: '5' is not a duration"),
        (["--port", "70000"], "argument --port: '70000' is not a port: give 0 to 65535"),
        (["--egress-port=-1"], "argument --egress-port: '-1' is not a port: give 0 to 65535"),
    ],
)
def test_a_bad_option_is_a_usage_error(capsys, argument, why):
    with pytest.raises(SystemExit) as exit:
        main(["run", "shop.sfidl", "--app", "shop_app", *argument])
    assert exit.value.code == 2
    assert why in capsys.readouterr().err


def test_a_port_out_of_range_given_to_the_runtime_is_a_clear_error(tmp_path: Path):
    async def scenario() -> None:
        options = RunOptions(db=tmp_path / "db.sqlite", port=0, egress_port=70000)
        runtime = LocalRuntime(demo_app(), options)
        try:
            with pytest.raises(LocalRuntimeError, match="cannot listen on 127.0.0.1:70000: bind"):
                await runtime.start()
        finally:
            await runtime.close()

    asyncio.run(scenario())
