# -*- coding: utf-8 -*-
# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Strict validators for every value that reaches a config file or a socket command.

PRIVATE to the bluegreen.core collection: may change without notice.

Each validator returns the value on success and raises ``ValidationError`` with a
message that names the parameter, so modules can fail with it unchanged.
"""

from __future__ import annotations

import re
import time

from ansible_collections.bluegreen.core.plugins.module_utils._errors import BluegreenError

COLOURS = ("blue", "green")

# App, backend and server names end up in haproxy.cfg, nginx.conf, map files and
# runtime-API commands: letters, digits, '_', '-' and '.', starting with a letter or digit.
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
# Versions become directory names under releases/: no '/', no leading '.', no '..'.
_VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}$")


class ValidationError(BluegreenError, ValueError):
    """A user-supplied value is unsafe or out of range; ``param`` names it."""


def _describe(value: object) -> str:
    return repr(value)


def colour(value: object, param: str = "colour") -> str:
    if value not in COLOURS:
        raise ValidationError(f"{param} must be 'blue' or 'green', got {_describe(value)}", param)
    return str(value)


def other_colour(value: str) -> str:
    return "green" if colour(value) == "blue" else "blue"


def name(value: object, param: str = "name") -> str:
    if not isinstance(value, str) or not _NAME_RE.fullmatch(value):
        raise ValidationError(
            f"{param} {_describe(value)} is not a safe name: use 1-63 letters, digits, '_', '-' or '.', "
            "starting with a letter or digit (no spaces, newlines or ';')", param,
        )
    return value


def version(value: object, param: str = "version") -> str:
    if not isinstance(value, str) or not _VERSION_RE.fullmatch(value) or ".." in value:
        raise ValidationError(
            f"{param} {_describe(value)} is not a safe version: use letters, digits, '.', '_', '+' or '-', "
            "starting with a letter or digit (no '/', no '..')", param,
        )
    return value


def text(value: object, param: str, limit: int = 200) -> str:
    """A single printable line (actor, reason): it goes into the JSON history and into logs."""
    if not isinstance(value, str) or not value.isprintable() or len(value) > limit:
        raise ValidationError(f"{param} must be one printable line of at most {limit} characters, got {_describe(value)}", param)
    return value


def port(value: object, param: str = "port") -> int:
    try:
        number = int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValidationError(f"{param} must be an integer port, got {_describe(value)}", param) from None
    if isinstance(value, bool) or str(number) != str(value).strip() or not 1 <= number <= 65535:
        raise ValidationError(f"{param} must be a port between 1 and 65535, got {_describe(value)}", param)
    return number


def status_codes(value: object, param: str = "status") -> list:
    """The HTTP status codes a health check accepts: a non-empty list of whole numbers from 100 to 599, none twice."""
    if not isinstance(value, (list, tuple)) or not value:
        raise ValidationError(f"{param} must be a non-empty list of HTTP status codes such as [200] or [200, 204], got {_describe(value)}", param)
    codes = []
    for index, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, (int, str)) or not re.fullmatch(r"[0-9]{3}", str(item).strip()) \
                or not 100 <= int(item) <= 599:
            raise ValidationError(f"{param}[{index}] must be an HTTP status code from 100 to 599, got {_describe(item)}", param)
        codes.append(int(item))
    twice = sorted({code for code in codes if codes.count(code) > 1})
    if twice:
        raise ValidationError(f"{param} lists {', '.join(map(str, twice))} twice: give each status code once", param)
    return codes


def weight(value: object, param: str = "weight", maximum: int = 100) -> int:
    try:
        number = int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValidationError(f"{param} must be an integer, got {_describe(value)}", param) from None
    if isinstance(value, bool) or not 0 <= number <= maximum:
        raise ValidationError(f"{param} must be between 0 and {maximum}, got {_describe(value)}", param)
    return number


def share(value: object, param: str = "weight") -> int:
    """Percent of live traffic for the target colour: 1-100 (0 would be a switch to the other colour)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100:
        raise ValidationError(
            f"{param} must be a whole percentage from 1 to 100 (100 sends all live traffic to colour), got {value!r}", param
        )
    return value


def steps(values: object, param: str = "steps") -> list:
    """Percentages of traffic for the target colour: increasing, ending at 100."""
    if not isinstance(values, (list, tuple)) or not values:
        raise ValidationError(f"{param} must be a non-empty list of percentages ending with 100, got {_describe(values)}", param)
    result = [weight(v, f"{param}[{i}]") for i, v in enumerate(values)]
    if any(b <= a for a, b in zip(result, result[1:])) or result[-1] != 100 or result[0] <= 0:
        raise ValidationError(f"{param} must increase strictly from above 0 and end with 100, got {result}", param)
    return result


def weights(value: object, param: str = "weights", maximum: int = 100) -> dict:
    """Traffic weights of the two colours: whole numbers from 0 to ``maximum``, not both 0."""
    if not isinstance(value, dict) or set(value) != set(COLOURS):
        raise ValidationError(f"{param} must be a dict with exactly the keys blue and green, got {_describe(value)}", param)
    result = {}
    for key in COLOURS:
        item = value[key]
        if isinstance(item, float) and not item.is_integer():
            raise ValidationError(f"{param}.{key} must be a whole number between 0 and {maximum}, got {_describe(item)}", f"{param}.{key}")
        result[key] = weight(item, f"{param}.{key}", maximum)
    if not any(result.values()):
        raise ValidationError(f"{param} must not all be 0 (blue 0, green 0): give the colour that should serve a weight above 0", param)
    return result


def colour_strings(value: object, param: str, check) -> dict:
    """A {blue, green} dict of optional values (the versions each colour runs), each checked with ``check``."""
    value = {} if value is None else value
    if not isinstance(value, dict):
        raise ValidationError(f"{param} must be a dict with the keys blue and green, got {_describe(value)}", param)
    return {key: None if value.get(key) is None else check(value[key], f"{param}.{key}") for key in COLOURS}


def commit_instant(value: float, most_s: float, now=time.time) -> float:
    """An instant (epoch seconds) to commit a staged change at: at most ``most_s`` ahead of this host's clock, since the
    change holds its router's map lock until then. An instant already past means at once."""
    ahead = value - now()
    if ahead > most_s:
        raise ValidationError(
            f"commit_at must be at most {most_s:g} seconds ahead of this host's clock, got {ahead:.1f} seconds ahead: "
            "check that the controller's and this host's clocks are set right", "commit_at")
    return value


def at_least(value: object, minimum: float, param: str, unit: str = "") -> object:
    """A number not below ``minimum`` (seconds, counts): a negative wait or limit is refused, naming ``param``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise ValidationError(f"{param} must be {minimum:g} or more{unit}, got {_describe(value)}", param)
    return value
