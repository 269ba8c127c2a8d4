"""The workbook contract and what every stage shares: quarters, text, files, settings, errors."""
