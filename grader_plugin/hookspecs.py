"""Every hook of the grader, in one place.

Hooks are grouped by what they do: registering (checks, profiles), discovering entry points,
choosing thresholds, integrity scans, adjusting a result, and reporting.  Registration hooks
receive a ``register`` callback, as in datasette and llm.  Implement them with
``@grader_plugin.hookimpl`` in a module named by an entry point of the group
``unitconv_grader.plugins``, or in a ``conftest.py`` of the grading run.
``docs/hooks.md`` documents each one; a test fails when one is missing there.
"""

from __future__ import annotations

from grader_plugin import hookspec

# -------------------------------------------------------------------------------------------------
# Registering checks and threshold profiles
# -------------------------------------------------------------------------------------------------


@hookspec
def grader_register_checks(register):
    """Add graded parts.

    :param register: call ``register(check)`` with a :class:`grader_plugin.checks.Check` (its name,
        points, extra credit, timeout, the entry point it needs, the worker task and its scoring).
        Registering a name twice is an error naming both plugins.
    :return: ignored.

    Called for every implementation (not firstresult), once per grading run.
    """


@hookspec
def grader_register_profiles(register):
    """Add named threshold profiles.

    :param register: call ``register(profile)`` with a :class:`grader_plugin.checks.Profile`.
    :return: ignored.

    Called for every implementation (not firstresult).  ``--grade-profile`` picks one by name.
    """


# -------------------------------------------------------------------------------------------------
# Discovering the submission's entry points
# -------------------------------------------------------------------------------------------------


@hookspec
def grader_entry_point_candidates(entry_point, submission):
    """Where a submission's entry point may be, as ``"module:attribute"`` strings.

    :param entry_point: ``"base"`` (the ``BaseLLM`` class) or a part: ``"cot"``, ``"sft"``, ``"rft"``.
    :param submission: the :class:`grader_plugin.handin.submission.Submission` (its package name,
        folder and declared metadata); read files only, never import it.
    :return: a list of candidates, or None.

    Called for every implementation (not firstresult); the lists are joined in call order and
    the worker loads the first candidate that exists.  When none exists, the part scores 0 and
    the reason names every candidate.  Must not run submission code.
    """


# -------------------------------------------------------------------------------------------------
# Choosing thresholds
# -------------------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def grader_thresholds(check, profile):
    """The score ramp of ``check`` under ``profile``.

    :param check: the :class:`grader_plugin.checks.Check` being scored.
    :param profile: the active :class:`grader_plugin.checks.Profile`.
    :return: a :class:`grader_plugin.checks.Bounds`, or None to let the next plugin answer.

    firstresult: the first non-None answer wins.  The built-in answer (called last) is the
    profile's bounds for the check, else the check's ``default_bounds``.
    """


# -------------------------------------------------------------------------------------------------
# Integrity scans
# -------------------------------------------------------------------------------------------------


@hookspec
def grader_scan_submission(submission):
    """Scan the submission's files before any of its code runs (static detectors).

    :param submission: the :class:`grader_plugin.handin.submission.Submission`.
    :return: a list of :class:`grader_plugin.results.Finding` (``part=None`` for all parts), or None.

    Called for every implementation (not firstresult), once per grading run.  A finding with
    severity ``flag`` sets the parts it concerns to 0; ``warn`` is reported only.  Every finding
    appears in the report's "Integrity" section.
    """


@hookspec
def grader_extra_questions(check, context):
    """Questions to mix into the answering call of a part that answers questions (hidden questions).

    :param check: the :class:`grader_plugin.checks.Check` (only checks that declare
        ``answers_questions``).
    :param context: the :class:`grader_plugin.checks.GradeContext` of the part.
    :return: a list of ``(question text, expected answer)``, or None.

    Called for every implementation (not firstresult), once per part, before its worker runs.
    The worker gets the graded questions and every plugin's extra questions in one shuffled
    call, so it cannot tell them apart; the part is scored on the graded questions only, and
    ``context.asked_questions()`` says, for each question asked, which plugin asked it.
    """


@hookspec
def grader_scan_part(check, outcome, context):
    """Judge one part after its worker finished (dynamic and behavioural detectors).

    :param check: the :class:`grader_plugin.checks.Check`.
    :param outcome: the :class:`grader_plugin.results.WorkerOutcome`, or None for a check
        without a worker.
    :param context: the :class:`grader_plugin.checks.GradeContext` (settings, submission,
        the graded questions with expected answers, the per-run cache, ``run_worker``).
    :return: a list of :class:`grader_plugin.results.Finding`, or None.

    Called for every implementation (not firstresult); findings are handled as for
    :func:`grader_scan_submission`, limited to this part.
    """


# -------------------------------------------------------------------------------------------------
# Adjusting a result
# -------------------------------------------------------------------------------------------------


@hookspec
def grader_adjust_result(check, result, outcome, context):
    """Change a part's result after it was scored and scanned, in place.

    :param check: the :class:`grader_plugin.checks.Check`.
    :param result: the :class:`grader_plugin.results.PartResult`; lower it with
        ``result.zero(reason)`` or by setting ``points``/``extra`` and ``reason``.
    :param outcome: the :class:`grader_plugin.results.WorkerOutcome`, or None.
    :param context: the :class:`grader_plugin.checks.GradeContext`.
    :return: ignored.

    Called for every implementation (not firstresult).  The built-in model-size rule uses it.
    """


# -------------------------------------------------------------------------------------------------
# Reporting
# -------------------------------------------------------------------------------------------------


@hookspec
def grader_write_report(report, settings, write_line):
    """Write the finished report somewhere.

    :param report: the :class:`grader_plugin.results.GradeReport` (parts, totals, findings).
    :param settings: the :class:`grader_plugin.settings.GradeSettings` of the run.
    :param write_line: ``write_line(text)`` prints a line to the terminal.
    :return: ignored.

    Called for every implementation (not firstresult) at the end of the run, also when parts
    crashed or the run was interrupted.  Built-ins print the table and write ``--grade-json``.
    """
