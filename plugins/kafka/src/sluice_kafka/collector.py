"""Holding off Python's cyclic garbage collector while many small objects are made.

Reading a large sample keeps one confluent-kafka message object per record, and describing
the configs of a thousand topics makes some 33,000 ``ConfigEntry`` objects. Each is an object
the collector tracks, so its collections, which traverse every tracked object of a generation
again and again, took as long as the work itself. None of these objects is part of a cycle:
reference counting frees them as usual while the collector waits.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Disable the cyclic collector for the block, then enable it again if it was on."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
