"""Exports to files people and systems use: the IATI activity file, the Excel review pack, the PDF of a review.

The stage comes after ``present`` (it takes the column sets, words and colours managers see) and
before ``serve`` (the dashboards offer its files for download). The batch (``publish``) is an
earlier stage and never imports it: ``cli.py`` hands the batch the writers to call.
"""
