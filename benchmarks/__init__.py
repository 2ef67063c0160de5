"""Benchmarks of pipmodels against the workflows it replaces; run ``python -m benchmarks``.

Modules: ``world`` (servers, model wheel, isolated environments), ``workflows`` (what each
workflow runs), ``measure`` (cold and warm runs), ``proctree`` (the watched process tree),
``breakdown`` (a cold run step by step), ``memory``, ``noop``, ``scaling``, ``realdeps``,
``report`` and ``targets``.
"""
