"""Names vulture takes for dead code that are used where it cannot see (``tox -e lint`` reads this file).

Hook implementations (``@hookimpl``, ``@pytest.hookimpl``, fixtures, ``pytest_*``) are skipped by the
command's options; what is left here is called by a framework or read by name.
"""

# ruff: noqa: F821, B018
_.row_factory  # sqlite3 reads it (grader_plugin/classroom/store.py)
SubmissionModel  # the documented protocol of an entry point's model (grader_plugin/handin/contract.py)
grader_register_checks  # hook specifications: pluggy calls the implementations (grader_plugin/hookspecs.py)
grader_register_profiles
grader_extra_questions
grader_adjust_result
_.visit_AnnAssign  # ast.NodeVisitor dispatches on the name (grader_plugin/integrity/ast_rules.py)
_.runtest  # pytest calls the item's methods (grader_plugin/plugin.py)
_.reportinfo
_.testscollected
exitstatus  # arguments a hook's signature names (grader_plugin/plugin.py, tests/conftest.py)
nextitem
_.longrepr  # pytest reads a report's fields (tests/conftest.py)
_.on_log  # transformers calls a callback's methods by name (solution/training.py)
control
local_ray  # a fixture asked for its side effect, a local Ray cluster (tests/grader_tests/test_class_grading.py)
read_served  # a worker task named by its import path (tests/grader_tests/test_worker_copies.py)
loss_real_tokens  # fields of the course rules' JSON report, written with dataclasses.asdict (tools/course_rules.py)
error_detail
course_limit_s
_.loss_real_tokens
