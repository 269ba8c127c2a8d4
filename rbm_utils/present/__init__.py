"""What the review notebooks call: loading a published quarter, tables, charts."""
