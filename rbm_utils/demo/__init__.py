"""The illustrative sample bureau."""
