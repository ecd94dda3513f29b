"""The config's contract: what it may instantiate (targets) and the types and ranges of its settings (schema)."""
