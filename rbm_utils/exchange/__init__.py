"""Exchange: the bureau's results in files people and systems outside use — the IATI activity
file (IATI Standard 2.03), the Excel review pack and the PDF of a review.

``iati_export`` writes a quarter's units as an IATI activity file (``rbm export iati``),
``iati_activity`` builds one unit's ``iati-activity`` element, ``iati_import`` keeps another
organisation's published results as a benchmark (``rbm import iati``; the file itself is read
by :mod:`rbm_utils.intake.iati`, what comes in), and ``schema/`` holds the official IATI 2.03
schema the export is validated against. ``excel_pack`` writes a review's tables as a workbook,
``pdf`` prints a review's HTML copy with Chromium, ``reviews`` gives the batch and ``rbm export
excel|pdf`` those files, and ``commands`` adds the commands to ``rbm``. docs/exports.md
describes each.

The stage comes after ``present`` (it takes the column sets, words and colours managers see) and
before ``serve`` (the dashboards offer its files for download). The batch (``publish``) is an
earlier stage and never imports it: ``cli.py`` hands the batch the writers to call.
"""
