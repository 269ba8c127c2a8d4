"""The illustrative sample bureau (``rbm sample``): :mod:`~rbm_utils.demo.catalogue` holds what it is
made of, :mod:`~rbm_utils.demo.kpis` draws the KPI series and aims them with the real analytics,
:mod:`~rbm_utils.demo.sample` assembles each unit's workbook. May import any stage."""
