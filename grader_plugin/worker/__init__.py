"""The worker side: everything in this package runs inside a worker process, next to hand-in code.

A worker is a fresh interpreter that the grader starts (:mod:`grader_plugin.launch.isolation`); it
loads one entry point of the hand-in and runs one task on the model it returns.  Code here
shares a process with the hand-in, so it only measures and records: nothing it writes is
evidence of innocence, and every judgement happens in the grader process.  It imports nothing
from the grader side but the shared types (:mod:`grader_plugin.results`,
:mod:`grader_plugin.handin.contract`); a test walks the imports.

- :mod:`.bootstrap`: the worker's entry point; loads the entry point, runs the task, writes the result;
- :mod:`.tasks`: the built-in checks' worker halves (answering, generating, the grader's own decoding);
- :mod:`.recorder`: what the hand-in did while it ran (audit hook, patched methods, grader modules);
- :mod:`.probe`: the behavioural detectors' worker half (hidden questions, weight ablation);
- :mod:`.values`: turning what a hand-in returned into JSON data.
"""
