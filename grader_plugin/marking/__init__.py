"""The course's marking as the grader applies it: the graded questions and the answer check.

| module | job |
|---|---|
| `graded_questions.py` | the public validation questions with their expected answers, and the asked questions |
| `scoring.py` | the course's answer check and score ramps |

Expected answers stay here, in the grader process.  Grader side.
"""
