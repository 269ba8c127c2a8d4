"""Exchange: the bureau's results with the outside world, in the IATI Standard (version 2.03).

``iati_export`` writes a quarter's units as an IATI activity file (``rbm export iati``),
``iati_activity`` builds one unit's ``iati-activity`` element, ``iati_import`` keeps another
organisation's published results as a benchmark (``rbm import iati``; the file itself is read
by :mod:`rbm_utils.intake.iati`, what comes in), and ``schema/`` holds the official IATI 2.03
schema the export is validated against. docs/exports.md describes the mapping and the checks.
"""
