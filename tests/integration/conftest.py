"""Every test in tests/integration/ talks to a real server: mark them all ``integration``.

The servers themselves are fixtures of tests/conftest.py (``ejabberd``, ``ejabberd_user``,
``ejabberd_room_name``), so that tests elsewhere can use them too.
"""

from __future__ import annotations

from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Add the ``integration`` marker to the tests collected from this directory."""
    for item in items:
        if Path(item.path).resolve().is_relative_to(_HERE):
            item.add_marker(pytest.mark.integration)
