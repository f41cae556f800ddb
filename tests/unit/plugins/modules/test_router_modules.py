# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every router's module pair: documented as its driver's argument spec says, and returning the common state."""

from __future__ import annotations

import pytest
import yaml
from ansible_collections.bluegreen.core.plugins.module_utils._routers import kinds
from ansible_collections.bluegreen.core.plugins.modules import (
    elb_info,
    elb_traffic,
    haproxy_info,
    haproxy_traffic,
    nginx_info,
    nginx_traffic,
    route53_info,
    route53_traffic,
)
from ansible_collections.bluegreen.core.tests.unit.plugins.modules.module_helpers import documented_options

MODULES = [haproxy_traffic, haproxy_info, nginx_traffic, nginx_info, elb_traffic, elb_info, route53_traffic, route53_info]
INFO_MODULES = [haproxy_info, nginx_info, elb_info, route53_info]


def _compare(documented: dict, spec: dict, where: str) -> None:
    assert set(documented) == set(spec), where
    for name, option in spec.items():
        doc = documented[name]
        assert doc.get("type", "str") == option.get("type", "str"), f"{where}{name}"
        assert doc.get("default") == option.get("default"), f"{where}{name}"
        assert doc.get("choices") == option.get("choices"), f"{where}{name}"
        assert bool(doc.get("required")) == bool(option.get("required")), f"{where}{name}"
        if "options" in option:
            _compare(doc["suboptions"], option["options"], f"{where}{name}.")


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_the_documentation_is_the_argument_spec(module):
    _compare(documented_options(module), module.argument_spec(), "")
    assert isinstance(yaml.safe_load(module.EXAMPLES), list)


@pytest.mark.parametrize("module", INFO_MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_every_info_module_documents_the_common_state(module):
    assert set(kinds.STATE_KEYS) <= set(yaml.safe_load(module.RETURN))
