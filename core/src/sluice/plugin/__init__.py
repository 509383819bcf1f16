"""The namespace of sluice's plugins.

A plugin is a module with functions marked ``@hookimpl`` and named after the hooks in
:mod:`sluice.plugin.spec`. Make it loadable by adding an entry point of the group ``sluice`` to
the plugin distribution's ``pyproject.toml``::

    [project.entry-points.sluice]
    webhook = "sluice_webhook.plugin"

The entry point's name is the plugin's name (``sluice plugins`` lists it; ``plugin:webhook``
selects what it compiled; ``SLUICE_DISABLE_PLUGINS=webhook`` keeps it from loading).
"""

import pluggy

NAME = "sluice"

hookspec = pluggy.HookspecMarker(NAME)
hookimpl = pluggy.HookimplMarker(NAME)

__all__ = ["NAME", "hookimpl", "hookspec"]
