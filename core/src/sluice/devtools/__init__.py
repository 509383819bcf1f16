"""Helpers for plugins that run real systems in ``sluice dev up``.

``maven`` fetches pinned artifacts into a cache outside the project and checks them against a
SHA-256 lock (and, optionally, against SHA-256 pins of the caller); ``cache`` names that cache
and locks its entries; ``ports`` picks local ports once and remembers them; ``jvm`` finds
``java``.
"""
