"""Docker's ``filters`` query parameter for network list, prune and events."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from datetime import datetime

from ..errors import InvalidParameter
from ..model import NetworkRecord

LIST_FILTERS = {"dangling", "driver", "id", "label", "name", "scope", "type"}
PRUNE_FILTERS = {"label", "label!", "until"}


def parse(raw: str | None, accepted: set[str] | None) -> dict[str, list[str]]:
    """Both encodings Docker accepts: {"k": {"v": true}} (Go CLI) and {"k": ["v"]} (docker-py).

    ``accepted`` None takes any key (dockerd does not validate the events filters)."""
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError as err:
        raise InvalidParameter(f"invalid filter: {err}") from None
    if not isinstance(data, dict):
        raise InvalidParameter("invalid filter: expected an object")
    result = {}
    for key, values in data.items():
        if accepted is not None and key not in accepted:
            raise InvalidParameter(f"invalid filter '{key}'")
        if isinstance(values, dict):
            result[key] = [v for v, on in values.items() if on]
        elif isinstance(values, list):
            result[key] = [str(v) for v in values]
        else:
            raise InvalidParameter(f"invalid filter '{key}'")
    return result


def _match(pattern: str, value: str) -> bool:
    # filters.Args.Match: exact, or an unanchored regular expression.
    if pattern == value:
        return True
    try:
        return re.search(pattern, value) is not None
    except re.error:
        return False


def _labels_match(wanted: list[str], labels: dict[str, str]) -> bool:
    for item in wanted:
        key, sep, value = item.partition("=")
        if key not in labels or (sep and labels[key] != value):
            return False
    return True


def network_matcher(filters: dict[str, list[str]],
                    in_use: Callable[[NetworkRecord], bool]) -> Callable[[NetworkRecord], bool]:
    for value in filters.get("type", []):
        if value not in ("custom", "builtin"):
            raise InvalidParameter(f"invalid filter: 'type'='{value}'")
    dangling = None
    if "dangling" in filters:
        values = filters["dangling"]
        if len(values) > 1:
            raise InvalidParameter('got more than one value for filter key "dangling"')
        if values[0] in ("true", "1"):
            dangling = True
        elif values[0] in ("false", "0"):
            dangling = False
        else:
            raise InvalidParameter(
                'invalid value for filter \'dangling\', must be "true" (or "1"), or "false" (or "0")')

    def matches(record: NetworkRecord) -> bool:
        if "name" in filters and not any(_match(p, record.name) for p in filters["name"]):
            return False
        if "id" in filters and not any(_match(p, record.id) for p in filters["id"]):
            return False
        if "driver" in filters and record.driver not in filters["driver"]:
            return False
        if "scope" in filters and record.scope not in filters["scope"]:
            return False
        if "label" in filters and not _labels_match(filters["label"], record.labels):
            return False
        if "type" in filters:
            kind = "builtin" if record.predefined else "custom"
            if kind not in filters["type"]:
                return False
        if dangling is not None:
            is_dangling = not record.predefined and not in_use(record)
            if is_dangling != dangling:
                return False
        return True

    return matches


def _parse_until(value: str) -> float:
    """Unix timestamp, RFC 3339 date, or a Go duration ago ("10m", "1h30m")."""
    try:
        return float(value)
    except ValueError:
        pass
    units = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
    parts = re.fullmatch(r"((?:\d+(?:\.\d+)?(?:ns|us|ms|s|m|h))+)", value)
    if parts:
        seconds = sum(float(n) * units[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)", value))
        return time.time() - seconds
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise InvalidParameter(f"failed to parse value as time or duration: \"{value}\"") from None


def _created(record: NetworkRecord) -> float:
    try:
        return datetime.fromisoformat(record.created[:26] + "+00:00").timestamp()
    except ValueError:
        return 0.0


def prune_keeper(filters: dict[str, list[str]]) -> Callable[[NetworkRecord], bool]:
    """True for networks the prune must keep."""
    until = filters.get("until", [])
    if len(until) > 1:
        raise InvalidParameter("more than one until filter specified")
    cutoff = _parse_until(until[0]) if until else None

    def keep(record: NetworkRecord) -> bool:
        if cutoff is not None and _created(record) >= cutoff:
            return True
        if "label" in filters and not _labels_match(filters["label"], record.labels):
            return True
        if "label!" in filters and any(_labels_match([item], record.labels) for item in filters["label!"]):
            return True
        return False

    return keep
