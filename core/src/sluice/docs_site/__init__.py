"""The static documentation site of a project: ``sluice docs generate`` and ``sluice docs serve``.

The site is built from what ``sluice compile`` wrote to ``target/`` (already redacted) and goes to
``target/docs/``: an index with every node grouped by kind and a lineage graph, one page per
node, one stylesheet, one script and ``data.js`` (the search data). Nothing is fetched from the
network and nothing depends on a server, so the folder also works opened from disk.

- :mod:`.catalog` reads the manifest into the values pages show;
- :mod:`.layout` places the lineage graph (layered, left to right);
- :mod:`.pages` renders them (Jinja templates in ``templates/``, autoescaped);
- :mod:`.build` writes the folder; :mod:`.serve` serves it.
"""

from __future__ import annotations

from sluice.docs_site.build import build_site, site_files

__all__ = ["build_site", "site_files"]
