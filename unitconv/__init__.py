"""The neutral core that the reference solution and the grader both build on.

Neither half owns it: ``solution`` (the answer key) and ``grader_plugin`` (the judge) import it,
and the grader never imports ``solution`` (a test walks the imports), so changing the reference
cannot change how it is graded.

- :mod:`.unit_names`: the six unit families, their units and every spelling (no factors, no pint);
- :mod:`.units`: the course's conversion registry (pint with the course's conventions);
- :mod:`.questions`: the question generator (stored splits, fresh and hidden sets);
- :mod:`.model_loader`: the base model (embedded SmolLM2-135M, any hub id or folder) and its cache;
- :mod:`.tiny_model`: a tiny random Llama with the real tokenizer, for fast tests;
- :mod:`.paths`: :func:`~unitconv.paths.data_dir` and :func:`~unitconv.paths.cache_dir`;
- :mod:`.course`: the course's limits and facts, each in one place.
"""
