"""Shared fixtures. Tests never touch the network."""

from __future__ import annotations

import os

# No test may reach a hub; libraries that try fail fast instead of hanging.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: runs a subprocess or DVC (seconds, not minutes)")
