"""The built-in grading behaviour, as ordinary plugins (listed in ``manager.DEFAULT_PLUGINS``)."""
