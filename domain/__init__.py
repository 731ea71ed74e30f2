"""Pure rules: no I/O, no framework. Handlers call these; storage persists what they decide."""
