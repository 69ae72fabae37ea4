"""Grade integrity: detectors that catch hand-ins answering without their model (grader side).

Each detector is a built-in plugin (listed in ``grader_plugin.manager.DEFAULT_PLUGINS``) on the
integrity hooks, registered like any third-party plugin.  Everything in this package runs in the
grader process; what the detectors need from inside a worker is recorded by
:mod:`grader_plugin.worker.recorder` and measured by :mod:`grader_plugin.worker.probe`.

- :mod:`.static_scan` (``grader_scan_submission``): reads the hand-in's source as syntax trees
  (rules in :mod:`.ast_rules`, analyses in :mod:`.ast_analysis`, the lines grading can run in
  :mod:`.reach`: warnings on lines it never runs are dropped, flags never) for dataset reads,
  question-to-answer tables, encoded data blobs, run-time replacement of the answering methods,
  use of the grader's own modules, exits, network and subprocess use.
- :mod:`.dynamic` (``grader_scan_part``): judges what the worker's recorder saw (file opens,
  network and subprocess events, patched answering methods, changed grader modules) while
  ``load()`` and answering ran.
- :mod:`.replay` (``grader_scan_part``), the root of trust: a worker of the grader's own decodes a
  sample of the prompts the hand-in's model was given, with the base model the grader serves and
  the hand-in's adapter (:mod:`.replay_target`), and every answer must follow from those outputs;
  answers with no model or no recorded model call behind them are flagged, and so are prompts that
  hold their own answers (:mod:`.prompt_leaks`).
- :mod:`.behaviour` (``grader_scan_part``): answers fresh hidden questions and answers again with
  the weights ablated, then compares with the public accuracy (:mod:`.stats` gives the p-values):
  a second opinion beside the replay.

:mod:`.vocabulary` holds the names they share (graded files, split names, watched methods).
Only findings of severity ``flag`` zero a part; ``warn`` findings are reported and cost nothing;
``unchecked`` findings say a detector could not run, so the part's integrity could not be checked.
"""
