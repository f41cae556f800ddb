# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared by every scenario's verifier: which of its tests run, from BLUEGREEN_MOLECULE_TESTS.

scripts/molecule.sh runs the scenarios side by side on a machine whose cores they keep busy. A test marked ``alone``
holds a wall-time bound (or builds on the state such a test leaves), so it runs only once the other scenarios have
ended: ``shared`` runs every other test, ``alone`` only the marked ones, on the lab the others left. Unset, every
test runs, in file order.
"""

from __future__ import annotations

import os

import pytest

CHOICES = ("shared", "alone")


def pytest_collection_modifyitems(config, items):
    choice = os.environ.get("BLUEGREEN_MOLECULE_TESTS", "")
    if not choice:
        return
    if choice not in CHOICES:
        raise pytest.UsageError(f"BLUEGREEN_MOLECULE_TESTS must be one of {', '.join(CHOICES)} or unset, not {choice!r}")
    keep, drop = [], []
    for item in items:
        alone = item.get_closest_marker("alone") is not None
        (keep if alone == (choice == "alone") else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
