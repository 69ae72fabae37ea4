"""Reading a hand-in's files without running them: opening it, bundling it, bounded parses.

| module | job |
|---|---|
| `submission.py` | opens a zip or folder, checks its layout and copies it into a private folder |
| `bundle.py` | the zip a student hands in, and its size |
| `vendoring.py` | the core modules a bundle carries |
| `bounded.py` | size and depth limits on every parse of hand-in data |
| `contract.py` | what a hand-in provides: entry points, answering methods, the model protocol |

Nothing here starts a worker or imports hand-in code.  Grader side (``contract`` is also read by
the worker side).
"""
