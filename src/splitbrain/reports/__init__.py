"""splitbrain.reports: what people read after a run.

* :func:`splitbrain.reports.html.write_report` (run dir -> ``report.html``)
* :func:`splitbrain.reports.index.write_index` and :func:`splitbrain.reports.serve.serve`
  (``splitbrain serve``)
* :func:`splitbrain.harness.campaign.run_campaign` (``splitbrain campaign``), with
  :mod:`splitbrain.reports.junit`
* :mod:`splitbrain.harness.pytest_plugin` (the ``splitbrain`` pytest fixture)

Nothing is imported here, so ``import splitbrain.reports`` stays cheap.
"""
