"""The TOML-text side of profiles: where a key sits in the file, and writing profiles back.

tomllib returns plain dicts with no positions, yet every validation issue must point a
marketing-ops or customer-success editor at a line. `Locator` re-scans the text with a few
regular expressions (best effort: headers, `key =` lines, elements of multi-line arrays)
so `signals[2].half_life_days` maps to the line of that key in the third `[[signals]]`
block. `to_toml` is the inverse of the loader, used to write calibrated candidate
profiles; it writes the same readable layout the bundled profiles use.

Kept apart from `prioscore.server.profiles.loading` so that module stays about the format and its
rules rather than about text scanning.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping

from prioscore.server.engine import (
    DEFAULT_REFRESH_SECONDS,
    Combine,
    Direction,
    Profile,
    Signal,
    TierMode,
)

_PART = re.compile(r"\"((?:[^\"\\]|\\.)*)\"|'([^']*)'|([A-Za-z0-9_-]+)")
_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\[\]]+?)\s*\]\]?\s*(?:#.*)?$")
_KEYLINE = re.compile(
    r"""^\s*((?:"(?:[^"\\]|\\.)*"|'[^']*'|[A-Za-z0-9_-]+)"""
    r"""(?:\s*\.\s*(?:"(?:[^"\\]|\\.)*"|'[^']*'|[A-Za-z0-9_-]+))*)\s*="""
)
_PATH_TOKEN = re.compile(r"\[(\d+)\]|([^.\[\]]+)")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")  # fullmatch: "$" would let "a\n" pass

Block = tuple[str, int | None]


def _parts(dotted: str) -> list[str]:
    return [m.group(1) or m.group(2) or m.group(3) or "" for m in _PART.finditer(dotted)]


class Locator:
    """Maps key paths such as `signals[2].match.category` or `tiers.hot` to 1-based lines.

    Best effort by design: anything it cannot place resolves to the enclosing block's
    header line, or 0 (unknown) when even the block is absent.
    """

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.blocks: dict[Block, int] = {}
        self.keys: dict[Block, dict[str, int]] = {}
        self.paths: dict[int, str] = {}  # line -> key path, for syntax errors
        counts: dict[str, int] = {}
        block: Block = ("", None)
        prefix: list[str] = []
        in_multiline = False
        for lineno, line in enumerate(self.lines, start=1):
            if line.count('"""') % 2 or line.count("'''") % 2:
                in_multiline = not in_multiline
                if not in_multiline:
                    continue
            elif in_multiline:
                continue
            if (header := _HEADER.match(line)) is not None:
                names = _parts(header.group(2))
                if not names:
                    continue
                top, rest = names[0], names[1:]
                if header.group(1) == "[[" and not rest:
                    counts[top] = counts.get(top, 0) + 1
                    block, prefix = (top, counts[top] - 1), []
                else:
                    block = (top, counts[top] - 1) if top in counts else (top, None)
                    prefix = rest
                self.blocks.setdefault(block, lineno)
                self._record(block, prefix, lineno)
                self.paths[lineno] = self._path(block, prefix)
            elif (key := _KEYLINE.match(line)) is not None:
                names = _parts(key.group(1))
                if block == ("", None):  # a top-level key acts as its own block
                    self.blocks.setdefault((names[0], None), lineno)
                    self._record((names[0], None), names[1:], lineno)
                else:
                    self._record(block, prefix + names, lineno)
                self.paths[lineno] = self._path(block, prefix + names)

    def _record(self, block: Block, names: list[str], lineno: int) -> None:
        keys = self.keys.setdefault(block, {})
        for j in range(1, len(names) + 1):
            keys.setdefault(".".join(names[:j]), lineno)

    @staticmethod
    def _path(block: Block, names: list[str]) -> str:
        head = block[0] if block[1] is None else f"{block[0]}[{block[1]}]"
        return ".".join([head, *names]) if head else ".".join(names)

    def line_of(self, path: str) -> int:
        """The 1-based line of `path`, its nearest located ancestor, or 0."""
        tokens: list[str | int] = [
            int(m.group(1)) if m.group(1) is not None else m.group(2)
            for m in _PATH_TOKEN.finditer(path)
        ]
        if not tokens or not isinstance(tokens[0], str):
            return 0
        top, rest = tokens[0], tokens[1:]
        block: Block = (top, None)
        if rest and isinstance(rest[0], int):
            block, rest = (top, rest[0]), rest[1:]
        if block not in self.blocks:
            same = [line for (name, _), line in self.blocks.items() if name == top]
            return min(same) if same else 0
        names: list[str] = []
        for token in rest:
            if not isinstance(token, str):
                break
            names.append(token)
        keys = self.keys.get(block, {})
        for j in range(len(names), 0, -1):
            line = keys.get(".".join(names[:j]))
            if line is not None:
                after = rest[j] if j < len(rest) else None
                return self._element_line(line, after) if isinstance(after, int) else line
        return self.blocks[block]

    def _element_line(self, line: int, index: int) -> int:
        """Line of element `index` of the array starting on `line` (one element per line)."""
        text = self.lines[line - 1].split("=", 1)[-1].strip()
        if not text.startswith("[") or text.count("[") <= text.count("]"):
            return line  # inline array on one line, or not an array
        seen = -1
        for offset, body in enumerate(self.lines[line:], start=line + 1):
            stripped = body.strip()
            if stripped.startswith("]"):
                break
            if stripped and not stripped.startswith("#"):
                seen += 1
                if seen == index:
                    return offset
        return line

    def path_at(self, line: int) -> str:
        """The key path defined on `line` (or of the block above it), for syntax errors."""
        for candidate in range(line, 0, -1):
            if candidate in self.paths:
                return self.paths[candidate]
        return ""


def syntax_error_line(message: str, text: str) -> int:
    """tomllib puts the position only in its message: `... (at line 3, column 7)`."""
    found = re.search(r"at line (\d+)", message)
    if found:
        return int(found.group(1))
    return max(1, len(text.splitlines())) if "end of document" in message else 0


# --------------------------------------------------------------------------- writing


def key(name: str) -> str:
    """A TOML key: bare when it can be, quoted otherwise."""
    return name if _BARE_KEY.fullmatch(name) else string(name)


def string(value: str) -> str:
    """A TOML basic string (escapes what TOML 1.0 forbids raw)."""
    out = []
    for ch in value:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def number(value: float) -> str:
    """Integral values without `.0` (what people write); the rest as shortest repr."""
    if not math.isfinite(value):
        raise ValueError(f"cannot write non-finite number {value!r} to a profile")
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def strings(values: Iterable[str]) -> str:
    return "[" + ", ".join(string(v) for v in values) + "]"


def inline(table: Mapping[str, str]) -> str:
    """An inline table from already-formatted values."""
    return "{ " + ", ".join(f"{key(k)} = {v}" for k, v in table.items()) + " }"


def _signal_lines(s: Signal) -> list[str]:
    lines = ["[[signals]]", f"name = {string(s.name)}"]
    if s.description:
        lines.append(f"description = {string(s.description)}")
    if s.reads_scores:
        lines += [f"scores = {string(s.scores)}", f"of = {string(s.of.value if s.of else '')}"]
        if s.min_score:
            lines.append(f"min_score = {number(s.min_score)}")
        if s.by:
            lines.append(f"by = {string(s.by)}")
    else:
        lines.append(f"event = {string(s.event)}")
    if s.match:
        lines.append(
            "match = "
            + inline({k: string(v[0]) if len(v) == 1 else strings(v) for k, v in s.match.items()})
        )
    lines.append(f"aggregate = {string(s.aggregate.value)}")
    for name, value in (("half_life_days", s.half_life_days), ("window_days", s.window_days)):
        if value is not None:
            lines.append(f"{name} = {number(value)}")
    lines.append(f"weight = {number(s.weight)}")
    if s.cap is not None:
        lines.append(f"cap = {number(s.cap)}")
    if s.missing != 0.0:
        lines.append(f"missing = {number(s.missing)}")
    if s.per_day:
        lines.append(f"per_day = {s.per_day}")
    if s.once_per:
        lines.append(f"once_per = {string(s.once_per)}")
    if s.min_volume:
        lines.append(f"min_volume = {number(s.min_volume)}")
    return lines


def to_toml(
    profile: Profile, *, default_max_points: float | None, default_fit_weight: float
) -> str:
    """Writes `profile` so the loader reads it back equal (except `source`).

    max_points and fit_weight are written only when they differ from the defaults the
    loader would derive, so a calibrated profile stays editable the way its original was.
    """
    out = ["[profile]", f"name = {string(profile.name)}", f"version = {profile.version}"]
    out.append(f"entity = {string(profile.entity)}")
    if profile.members:
        out.append(f"members = {string(profile.members)}")
    if profile.description:
        out.append(f"description = {string(profile.description)}")
    if profile.direction is not Direction.HIGHER_IS_BETTER:
        out.append(f"direction = {string(profile.direction.value)}")
    scoring = []
    if default_max_points is None or profile.max_points != default_max_points:
        scoring.append(f"max_points = {number(profile.max_points)}")
    if profile.fit_weight != default_fit_weight:
        scoring.append(f"fit_weight = {number(profile.fit_weight)}")
    if profile.refresh_seconds != DEFAULT_REFRESH_SECONDS:
        scoring.append(f"refresh = {number(profile.refresh_seconds)}")
    if profile.combine is not Combine.BLEND:
        scoring.append(f"combine = {string(profile.combine.value)}")
    if scoring:
        out += ["", "[scoring]", *scoring]
    for c in profile.categories:
        out += ["", "[[categories]]", f"name = {string(c.name)}"]
        if c.property != "url":
            out.append(f"property = {string(c.property)}")
        for name, values in (
            ("equals", c.equals),
            ("prefixes", c.prefixes),
            ("contains", c.contains),
        ):
            if values:
                out.append(f"{name} = {strings(values)}")
        if c.eliminatory:
            out.append("eliminatory = true")
    for s in profile.signals:
        out += ["", *_signal_lines(s)]
    for f in profile.fit:
        out += ["", "[[fit]]", f"attribute = {string(f.attribute)}"]
        if f.points:
            out.append("points = " + inline({k: number(v) for k, v in f.points.items()}))
        if f.ranges:
            out.append("ranges = [")
            for r in f.ranges:
                bounds = {"min": r.low, "max": r.high, "points": r.points}
                out.append(
                    "  " + inline({k: number(v) for k, v in bounds.items() if v is not None}) + ","
                )
            out.append("]")
    for d in profile.disqualify:
        out += ["", "[[disqualify]]", f"attribute = {string(d.attribute)}"]
        out.append(f"in = {strings(d.values)}")
        if d.reason:
            out.append(f"reason = {string(d.reason)}")
    for rule in profile.scope:
        out += ["", "[[scope]]", f"attribute = {string(rule.attribute)}"]
        out.append(f"in = {strings(rule.values)}")
        if rule.reason:
            out.append(f"reason = {string(rule.reason)}")
    hold = profile.hysteresis
    if hold.margin or hold.min_days_in_tier:
        out += ["", "[alerts]"]
        if hold.margin:
            out.append(f"margin = {number(hold.margin)}")
        if hold.min_days_in_tier:
            out.append(f"min_days_in_tier = {number(hold.min_days_in_tier)}")
    out += ["", "[tiers]", f"mode = {string(profile.tiers.mode.value)}"]
    tiers = profile.tiers
    if tiers.mode is TierMode.GRID:
        out.append("fit = " + inline({g: number(t) for g, t in tiers.grades}))
        out.append("engagement = " + inline({lv: number(t) for lv, t in tiers.levels}))
    for name, threshold in zip(
        tiers.names, tiers.thresholds, strict=tiers.mode is not TierMode.GRID
    ):
        out.append(f"{key(name)} = {number(threshold)}")
    return "\n".join(out) + "\n"
