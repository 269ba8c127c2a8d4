"""One module per dashboard page, each with its one ``page()`` that the page's notebook in
``dashboards/`` calls: :mod:`.landing` (index), :mod:`.unit` (one unit's review), :mod:`.overview`
(the bureau), :mod:`.joint` (a cluster with a region). :mod:`.review` holds the review app the unit
and overview pages share (state apart from layout); :mod:`.context` reads a page's request."""
