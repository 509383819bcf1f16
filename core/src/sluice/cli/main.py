"""The ``sluice`` command line (Click).

Heavy modules (pydantic, sqlglot, the plugins) are imported inside the commands, so that
``sluice --help`` answers at once.
"""

from __future__ import annotations

import click

from sluice.cli import dev, docs, offline, online
from sluice.cli.options import CONTEXT


@click.group(context_settings=CONTEXT)
@click.version_option(package_name="sluice-core", prog_name="sluice")
def cli() -> None:
    """sluice: declarative streaming pipelines for Kafka, Flink and Connect."""


for command in (
    offline.init,
    offline.validate,
    offline.compile_,
    offline.ls,
    offline.lineage,
    offline.plugins,
    online.plan,
    online.apply,
    online.destroy,
    online.status,
    online.test_,
    docs.docs,
    dev.dev,
):
    cli.add_command(command)


def main() -> None:
    from sluice.memory import one_command_per_process

    one_command_per_process()
    cli(prog_name="sluice")


if __name__ == "__main__":
    main()
