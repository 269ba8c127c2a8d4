"""The managers' dashboards: Voila pages and the hardened server."""
