"""The grader's side of the process boundary: how workers start and what they get.

| module | job |
|---|---|
| `runner.py` | what one run's workers read, see, are served, and their copy of the hand-in |
| `isolation.py` | starting one worker (a fresh ``python -I -B``) under its limits and reading back its one result |
| `channels.py` | the readers of a worker's pipes, with size caps and rate limits |
| `sandbox.py` | bubblewrap, the worker's environment and its hard limits |
| `copies.py` | the per-worker copy of the hand-in, compared by content after |
| `model_map.py` | the hub ids a run serves offline, and its private hub cache |
| `judge.py` | which served model the generation parts are judged under |
| `time_limits.py` | each part's time limit, scaled to this machine |
| `phase_times.py` | seconds per worker phase, for the report |

Nothing here imports hand-in code; everything a worker sends back is parsed within bounds.
Grader side.
"""
