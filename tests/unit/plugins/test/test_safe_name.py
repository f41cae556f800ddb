# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import pytest
from ansible_collections.bluegreen.core.plugins.test.safe_name import TestModule as SafeNameTests
from ansible_collections.bluegreen.core.plugins.test.safe_name import safe_name


def test_the_test_is_registered():
    assert set(SafeNameTests().tests()) == {"safe_name"}


@pytest.mark.parametrize("value", ["shop", "service-a", "a.b_c-1", "A" * 63])
def test_safe_names(value):
    assert safe_name(value) is True


@pytest.mark.parametrize("value", ["", "shop\n", "two words", "a;b", "../x", "-x", "A" * 64, "café", None, 42, ["shop"]])
def test_unsafe_names(value):
    assert safe_name(value) is False
