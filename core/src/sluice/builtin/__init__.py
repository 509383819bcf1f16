"""Behaviour of the core that is registered as plugins, with the same powers as any other."""
