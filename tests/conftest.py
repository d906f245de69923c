"""Test-session settings that must not depend on optional plugins."""

from __future__ import annotations

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    # pytest-benchmark (the `test` extra) times nothing here: off where installed, and its absence (the
    # GPU machines) must not break the command line, so the option is not in pyproject's addopts.
    if config.pluginmanager.hasplugin("benchmark"):
        config.option.benchmark_disable = True
