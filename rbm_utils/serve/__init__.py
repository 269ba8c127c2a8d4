"""The managers' dashboards: Voila pages over the published tables, and the hardened server.

- :mod:`.pages`: one module per dashboard page (landing, unit, overview, joint), each with the
  ``page()`` its notebook in ``dashboards/`` calls; the review app keeps its state apart from its widgets.
- :mod:`.params`: the one gate for what a browser sends (query strings, widget values, links).
- :mod:`.data`: the published tables a page reads (never the store, never a recomputation).
- :mod:`.views`: filters and figures over published rows; :mod:`.widgets`: shared widgets and
  guarded callbacks.
- :mod:`.server` (``rbm serve``) and :mod:`.voila_app`: the hardened standalone Voila.

May import every earlier stage (core to present).
"""
