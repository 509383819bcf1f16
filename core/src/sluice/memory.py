"""Pausing Python's cyclic garbage collector while a compile builds its values.

A compile of 10,000 models allocates about a million objects that live until it ends (YAML
positions, validated models, parse trees, nodes, artifacts). The collector runs a full
collection each time the heap has grown by a quarter, walking every live object again: that was
a third of such a compile. While it is paused, reference counting still frees what is dropped;
only reference cycles made meanwhile wait for the first collection after it.

That first collection still walks everything the block allocated. A process that runs one
command and exits (the console script) declares so with :func:`one_command_per_process`; there
the objects alive at the end of a paused block are frozen instead: they live until the command
ends anyway, and frozen objects are walked neither by later collections nor by the interpreter's
teardown (about a second each after a compile of 10,000 models).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

_freeze_at_end = False


def one_command_per_process() -> None:
    """Declare that this process exits after one command (a test runner's never does)."""
    global _freeze_at_end
    _freeze_at_end = True


@contextmanager
def collector_paused() -> Iterator[None]:
    """Run the block with the cyclic garbage collector off (left off if it already was)."""
    if not gc.isenabled():  # nested, or paused by the caller
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        if _freeze_at_end:
            gc.freeze()
        gc.enable()
