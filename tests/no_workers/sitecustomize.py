"""Installs the no-workers guard in a test's child Python processes (found through ``PYTHONPATH``)."""

from no_workers_guard import install_for_process

install_for_process()
