"""The collector pause around a compile: off inside, back on after, frozen only for one-shot
processes."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from sluice import memory
from sluice.memory import collector_paused


@pytest.fixture(autouse=True)
def _restore_collector() -> Iterator[None]:
    gc.unfreeze()
    yield
    memory._freeze_at_end = False
    gc.unfreeze()
    gc.enable()


def test_the_collector_is_off_inside_and_on_again_after() -> None:
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():  # nested: stays off
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_an_error_inside_still_turns_the_collector_back_on() -> None:
    with pytest.raises(ValueError), collector_paused():
        raise ValueError("boom")
    assert gc.isenabled()


def test_a_caller_that_paused_the_collector_keeps_it_paused() -> None:
    gc.disable()
    with collector_paused():
        pass
    assert not gc.isenabled()


def test_only_a_one_command_process_freezes_what_the_block_built() -> None:
    with collector_paused():
        built = [[i] for i in range(100)]
    assert gc.get_freeze_count() == 0

    memory.one_command_per_process()
    with collector_paused():
        built = [[i] for i in range(100)]
    assert gc.get_freeze_count() >= len(built)
    assert gc.isenabled()
