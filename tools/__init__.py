"""Development tools beside the graded package: never part of what a student hands in.

``tools/pipeline.py`` goes from nothing to a graded hand-in (``python -m tools.pipeline``);
``tools/course_rules.py`` grades a hand-in by the course's rules in a Python that cannot import
this project.  They may import the grader: the bundle (``python -m grader_plugin bundle solution``)
holds the ``solution`` package only.
"""
