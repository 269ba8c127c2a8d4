"""Officer workbooks in: read (xlsx/CSV), validate every problem at once, write templates."""
