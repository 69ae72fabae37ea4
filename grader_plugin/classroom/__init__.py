"""Grading a whole class: every hand-in of a folder or Gradescope export, on Ray, resumable.

``python -m grader_plugin grade-class HANDINS --out DIR`` (the same as ``pytest --grade-class
HANDINS --grade-class-out DIR``) grades each hand-in in its own Ray task with the same code as
single grading (a :class:`~grader_plugin.session.GradingSession`), records every finished hand-in
in a SQLite file as it finishes, and writes ``grades.csv``, one Gradescope ``results.json`` per
hand-in and ``report.html``.  One module per job:

| module | job |
|---|---|
| ``handins`` | finding the hand-ins (a folder per student or a zip, or a Gradescope export) and their content hash |
| ``records`` | a hand-in's report as JSON data and back; its flags |
| ``store`` | the SQLite file: one row per hand-in and per part, and what needs grading again |
| ``task`` | the Ray task: grades one hand-in on the node that runs it |
| ``driver`` | the class run: Ray, the tasks, retries, shared once-per-run work, the progress line |
| ``progress`` | the live progress line |
| ``exports`` | ``grades.csv`` and the ``results.json`` files |
| ``html_report`` | ``report.html`` with its figures |
| ``pytest_plugin`` | the ``--grade-class`` pytest options, and the command line's ``grade-class`` |

Grader side: nothing here is imported by workers, and Ray, matplotlib and PyYAML are imported only
when a class is graded (``pip install 'unitconv-grader[class]'``).
"""
