"""Finding the ``java`` that dev services run with."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from sluice.errors import SluiceError


def java_executable() -> str:
    """``$JAVA_HOME/bin/java`` when set, else ``java`` from ``PATH``.

    Raises :class:`SluiceError` when neither exists.
    """
    home = os.environ.get("JAVA_HOME")
    if home:
        candidate = Path(home) / "bin" / "java"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("java")
    if found:
        return found
    raise SluiceError(
        "no 'java' found (JAVA_HOME is unset or has no bin/java, and PATH has none)",
        hint="install a Java 17+ runtime, or set JAVA_HOME to one",
    )
