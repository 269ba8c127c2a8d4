"""The illustrative sample bureau (``rbm sample``): :mod:`~rbm_utils.demo.catalogue` holds what it is
made of, :mod:`~rbm_utils.demo.kpis` draws the KPI series and aims them with the real analytics,
:mod:`~rbm_utils.demo.sample` assembles each unit's final state, :mod:`~rbm_utils.demo.story` tells
what its reviews decided and how its framework moved, :mod:`~rbm_utils.demo.history` winds the final
state back to each quarter's workbook and :mod:`~rbm_utils.demo.load` ingests that history quarter by
quarter. May import any stage."""
