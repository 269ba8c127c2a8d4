"""Pure analytics over a bureau state: one module per concern, one function per quarter."""
