# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The strict validators that guard every config file and socket command."""

from __future__ import annotations

import pytest
from ansible_collections.bluegreen.core.plugins.module_utils import _validate
from ansible_collections.bluegreen.core.plugins.module_utils._validate import (
    ValidationError,
)

# Values that must never reach a config file or a runtime-API command.
UNSAFE_TEXT = [
    "",
    " ",
    "shop app",
    "shop\n",
    "shop\nset map x y",
    "shop\r",
    "shop;reload",
    "shop#x",
    "../x",
    "..",
    "a/b",
    "/etc/passwd",
    ".hidden",
    "-flag",
    "_x",
    "shop\x00",
    "shöp",
    "$(id)",
    "`id`",
    "shop'",
    'shop"',
    "x" * 200,
]


@pytest.mark.parametrize("value", ["shop", "shop-api", "shop_api", "shop.example", "a", "0app", "A" * 63])
def test_name_accepts_safe_names(value):
    assert _validate.name(value) == value


@pytest.mark.parametrize("value", [*UNSAFE_TEXT, "A" * 64, None, 42, ["shop"]])
def test_name_rejects_unsafe_values(value):
    with pytest.raises(ValidationError, match=r"^app .* is not a safe name"):
        _validate.name(value, "app")


@pytest.mark.parametrize("value", ["1.2.3", "2024.11.22", "v2", "1.0.0-rc.1", "1.0.0+build.5", "r_42", "9" * 128])
def test_version_accepts_safe_versions(value):
    assert _validate.version(value) == value


@pytest.mark.parametrize("value", [*UNSAFE_TEXT, "1..2", "1.2/3", "9" * 129, None, 1.2])
def test_version_rejects_unsafe_values(value):
    with pytest.raises(ValidationError, match=r"^bluegreen_version .* is not a safe version"):
        _validate.version(value, "bluegreen_version")


@pytest.mark.parametrize("value", ["blue", "green"])
def test_colour_accepts_the_two_colours(value):
    assert _validate.colour(value) == value


@pytest.mark.parametrize("value", ["Blue", "red", "", "blue ", "blue\n", None, 0])
def test_colour_rejects_anything_else(value):
    with pytest.raises(ValidationError, match=r"^to must be 'blue' or 'green', got "):
        _validate.colour(value, "to")


def test_other_colour():
    assert (_validate.other_colour("blue"), _validate.other_colour("green")) == ("green", "blue")
    with pytest.raises(ValidationError):
        _validate.other_colour("red")


@pytest.mark.parametrize(("value", "expected"), [(1, 1), (8001, 8001), (65535, 65535), ("8080", 8080), (" 80 ", 80)])
def test_port_accepts_1_to_65535(value, expected):
    assert _validate.port(value) == expected


@pytest.mark.parametrize("value", [0, 65536, -1, "0", "65536", "80;", "80 81", "8o", "0x50", "", None, True, 80.5])
def test_port_rejects_out_of_range_and_junk(value):
    with pytest.raises(ValidationError, match=r"^bluegreen_listen_port must be "):
        _validate.port(value, "bluegreen_listen_port")


def test_port_messages_say_what_was_wrong():
    with pytest.raises(ValidationError, match=r"must be a port between 1 and 65535, got 0$"):
        _validate.port(0)
    with pytest.raises(ValidationError, match=r"must be an integer port, got 'http'$"):
        _validate.port("http")


@pytest.mark.parametrize(("value", "expected"), [(0, 0), (50, 50), (100, 100), ("10", 10)])
def test_weight_accepts_0_to_maximum(value, expected):
    assert _validate.weight(value) == expected


@pytest.mark.parametrize("value", [-1, 101, "abc", None, True, "1;0"])
def test_weight_rejects_out_of_range_and_junk(value):
    with pytest.raises(ValidationError, match=r"^weight "):
        _validate.weight(value)


def test_weight_honours_a_custom_maximum():
    assert _validate.weight(256, maximum=256) == 256
    with pytest.raises(ValidationError, match=r"between 0 and 256, got 257"):
        _validate.weight(257, maximum=256)


@pytest.mark.parametrize(("value", "expected"), [([100], [100]), ([10, 50, 100], [10, 50, 100]), (("25", 100), [25, 100])])
def test_steps_accepts_increasing_percentages_ending_at_100(value, expected):
    assert _validate.steps(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([], "must be a non-empty list"),
        ("100", "must be a non-empty list"),
        (None, "must be a non-empty list"),
        ([50], "must increase strictly from above 0 and end with 100"),
        ([0, 100], "must increase strictly from above 0"),
        ([50, 10, 100], "must increase strictly"),
        ([50, 50, 100], "must increase strictly"),
        ([10, 150], r"steps\[1\] must be between 0 and 100"),
        ([10, "x", 100], r"steps\[1\] must be an integer"),
    ],
)
def test_steps_rejects_bad_sequences_naming_the_item(value, message):
    with pytest.raises(ValidationError, match=message):
        _validate.steps(value)


def test_validation_error_is_a_value_error():
    assert issubclass(ValidationError, ValueError)


@pytest.mark.parametrize("value", ["a\nb", "tab\there", "x" * 201, 5])
def test_text_refuses_multiline_and_long_values(value):
    with pytest.raises(ValidationError, match="actor"):
        _validate.text(value, "actor", 200)


def test_text_accepts_one_printable_line():
    assert _validate.text("awx job 42 by alice (release 1.5.0)", "actor", 200) == "awx job 42 by alice (release 1.5.0)"


@pytest.mark.parametrize(
    ("value", "maximum", "expected"),
    [({"blue": 0, "green": 100}, 100, {"blue": 0, "green": 100}), ({"green": "9", "blue": 1}, 999, {"blue": 1, "green": 9}),
     ({"blue": 999, "green": 0}, 999, {"blue": 999, "green": 0}), ({"blue": 255.0, "green": 255}, 255, {"blue": 255, "green": 255})],
)
def test_weights_accepts_both_colours_in_range(value, maximum, expected):
    assert _validate.weights(value, maximum=maximum) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"blue": 1000, "green": 0}, r"^weights\.blue must be between 0 and 999, got 1000$"),
        ({"blue": 0, "green": -1}, r"^weights\.green must be between 0 and 999, got -1$"),
        ({"blue": True, "green": 0}, r"^weights\.blue must be between 0 and 999, got True$"),
        ({"blue": 0, "green": 10.5}, r"^weights\.green must be a whole number between 0 and 999, got 10\.5$"),
        ({"blue": "ten", "green": 0}, r"^weights\.blue must be an integer, got 'ten'$"),
        ({"blue": None, "green": 1}, r"^weights\.blue must be an integer, got None$"),
        ({"blue": 0, "green": 0}, r"^weights must not all be 0 "),
        ({"blue": 1}, r"^weights must be a dict with exactly the keys blue and green"),
        ({"blue": 1, "green": 1, "red": 1}, r"^weights must be a dict with exactly the keys blue and green"),
        ([0, 100], r"^weights must be a dict"),
    ],
)
def test_weights_rejects_out_of_range_bools_and_all_zero(value, message):
    with pytest.raises(ValidationError, match=message):
        _validate.weights(value, maximum=999)


@pytest.mark.parametrize(("value", "expected"), [([200], [200]), ([200, 204, "301"], [200, 204, 301]), ((100, 599), [100, 599])])
def test_status_codes_accepts_codes_from_100_to_599(value, expected):
    assert _validate.status_codes(value, "health_status") == expected


@pytest.mark.parametrize(("value", "message"), [
    ([], "health_status must be a non-empty list"), (200, "health_status must be a non-empty list"),
    ([99], r"health_status\[0\] must be an HTTP status code"), ([200, 600], r"health_status\[1\]"), ([True], r"health_status\[0\]"),
    ([200.0], r"health_status\[0\]"), (["2xx"], r"health_status\[0\]"), ([200, 204, 200], "health_status lists 200 twice"),
])
def test_status_codes_refuses_junk_naming_the_parameter(value, message):
    with pytest.raises(_validate.ValidationError, match=message) as caught:
        _validate.status_codes(value, "health_status")
    assert caught.value.param == "health_status"
