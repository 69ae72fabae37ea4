"""Grade integrity: detectors that catch submissions answering without their model.

Each detector is a built-in plugin (listed in ``grader_plugin.manager.DEFAULT_PLUGINS``) on the
integrity hooks, registered like any third-party plugin:

- :mod:`.static_scan` (``grader_scan_submission``): reads the submission's source as syntax trees
  for dataset reads, question-to-answer tables, encoded data blobs, run-time replacement of the
  answering methods, use of the grader's own modules, exits, network and subprocess use.
- :mod:`.dynamic` (``grader_scan_part``): judges what :mod:`.recorder` saw inside the worker
  (audit-hook file opens, network and subprocess events, patched answering methods, changed
  grader modules) while ``load()`` and answering ran.
- :mod:`.behaviour` (``grader_scan_part``): answers fresh hidden questions and answers again
  with the weights ablated (:mod:`.probe`), then compares with the public accuracy
  (:mod:`.stats` gives the p-value).

Only findings of severity ``flag`` zero a part; ``warn`` findings are reported and cost nothing.
"""
