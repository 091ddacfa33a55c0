"""Scoring profiles: the TOML format, its loader/validator and its writer.

A profile is a plain TOML file in `profiles/` that says which behaviours count, how much,
how fast they fade, which attributes add fit, what disqualifies and where the tiers lie.
The loader turns it into the engine's `Profile` (prioscore.server.engine.model) or raises
`ProfileInvalidError` listing *every* problem, each with file, line and key path
(`signals[2].half_life_days`, 0-based index), so one edit-reload cycle fixes them all.

Format (tables and keys; anything else is reported with the closest valid name)::

    [profile]                    required
    name        = "lead_qualification"   letters, digits, _ . -; unique per directory
    version     = 1                      integer >= 1; bump it when scores change meaning
    entity      = "contact"              what is scored: contact, account, subscription, ticket
    description = "..."                  optional
    members     = "contact"              optional rollup: the events of entities of this kind
                                         whose account is the scored entity count as its own
    direction   = "higher_is_better"     what a high score means: higher_is_better (default)
                                         | higher_is_riskier (churn: the top is in danger)

    [scoring]                    optional
    max_points = 100             raw points that map to an engagement of 100. Default: the
                                 sum of the caps of positive-weight signals (so every
                                 positive-weight signal needs a cap unless this is set)
    fit_weight = 0.3             0..1 share of fit in the score; default 0.3 with [[fit]]
                                 rules, 0.0 without (and it must stay 0 without them)
    refresh = "5m"               how stale a stored score may get with no new event: the
                                 server rescores every stored entity at least this often
                                 ("30s", "5m", "1h", "1d" or seconds; 10s-1d; default 5m)
    combine    = "blend"         blend (default): (1 - w) * engagement + w * fit;
                                 multiply: engagement * (1 - w + w * fit / 100), so fit
                                 scales behaviour and never lifts an unengaged entity

    [[categories]]               optional, tried in file order, first match wins
    name        = "hot"          referenced by signals as match = { category = "hot" }
    property    = "url"          event string property to test (default "url")
    equals / prefixes / contains = ["/pricing", ...]   at least one, non-empty strings
    eliminatory = false          true: an entity with such an event is not ranked

    [[signals]]                  required, at least one
    name        = "hot_pages"    unique within the profile
    event       = "page_view"    event type
    aggregate   = "decayed_count"  count | sum | decayed_count | decayed_sum | window_count |
                                 window_sum | days_since_last | days_since_first |
                                 distinct_days | trend | exists | density |
                                 deadline_elapsed (largest age / value, value = the days
                                 the event allows, e.g. an SLA target: 1 = due now)
    half_life_days = 14          > 0; required by decayed_*, refused elsewhere
    window_days = 30             > 0; required by window_* and trend, refused elsewhere
    weight      = 8              points per unit of the feature; negative = a penalty
    cap         = 32             > 0, optional; points are clipped to -cap..cap
    match       = { category = "hot", form = ["demo", "trial"] }   property -> value(s)
    missing     = 0              feature value when the entity has no matching event
    per_day     = 1              optional: at most this many matching events per entity per
                                 UTC day count (repeats beyond it are ignored)
    once_per    = "asset"        optional first-time-only: only an entity's first event per
                                 value of this string property counts
    min_volume  = 4              trend only: recent + prior events below this read 0
    description = "..."          optional, shown in explanations

    A score signal reads another profile's current scores of related entities instead
    of events (no event / match / half_life_days / window_days on it):
    scores      = "lead_qualification"   the profile whose stored scores are read
    of          = "members"      members: the entities whose account is this entity;
                                 account: this entity's account (one entity)
    aggregate   = "count"        members: sum | max | mean | count | distinct;
                                 account: score
    min_score   = 40             0-100, optional: only related entities scoring at least
                                 this count (disqualified ones never do)
    by          = "seniority"    distinct only: the related attribute whose values count
    Score signals may not form a cycle across profiles (a → b → a is reported with its
    path); ingest rescores profiles in dependency order and follows the relations, so a
    contact's event also rescores its account and a churn change its account's tickets.

    [[fit]]                      optional: points from entity attributes
    attribute = "seniority"
    points    = { vp = 15, manager = 8 }            categorical value -> points, and/or
    ranges    = [{ min = 50, max = 200, points = 10 }, ...]   numeric [min, max); either
                                 bound may be omitted (unbounded); ranges must not overlap

    [[disqualify]]               optional: entities whose attribute is in the list are excluded
    attribute = "relationship"
    in        = ["competitor", "internal"]
    reason    = "..."            optional

    [[scope]]                    optional segment: every rule must hold for an entity to be
    attribute = "region"         scored; entities outside are not ranked (like disqualified,
    in        = ["emea"]         reason given), entities without the attribute are outside
    reason    = "..."            optional

    [alerts]                     optional hysteresis for stored tier changes
    margin           = 5         points a score must clear a tier boundary by to move
    min_days_in_tier = 1         days a tier is held before it may change

    [tiers]                      required; tiers listed from LOWEST to HIGHEST
    mode = "absolute"            absolute (0-100 score) | quantile (0-1 population share) |
                                 grid (below); default absolute
    cold = 0                     tier = threshold pairs in file order: a tier starts at its
    warm = 40                    threshold; the first must be 0 (the floor) so every score
    hot  = 70                    gets a tier; thresholds strictly ascending
    # or, equivalently:  names = ["cold", "warm", "hot"]  thresholds = [0, 40, 70]
    # ("mode", "names" and "thresholds" cannot be tier names)
    # grid: a fit grade x engagement level matrix; tiers are the cells, e.g. "A1":
    #   mode = "grid"
    #   fit = { D = 0, C = 25, B = 50, A = 75 }               grades on fit, lowest first
    #   engagement = { "4" = 0, "3" = 25, "2" = 50, "1" = 75 }  levels, lowest first
    # cells ascend engagement first (D4 < C4 < ... < A4 < D3 < ... < A1), so no grade
    # lifts a less engaged entity into a higher tier; needs [[fit]] rules

Numbers may be written as integers or decimals; booleans, NaN and inf are refused.
A negative weight on a feature that can itself be negative (trend) adds points when the
feature falls: churn_risk uses that to make declining logins raise risk. Quantile tiers
read "0.75 = the top quarter starts here". `missing` matters for recency aggregates:
"never" is usually the worst case, so set it large (e.g. 90 days) rather than 0.

Modules: this one holds the format, [profile]/[scoring]/[tiers] rules and the public API;
check.py the issue collector and the array-of-tables rules (repeats.py a signal's repeat
caps); options.py direction, combine, [[scope]] and [alerts]; toml_text.py the line
locator and the TOML writer; candidate_text.py calibrated candidates edited in place.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prioscore.server.engine import Profile, Signal
from prioscore.server.errors import ProfileInvalidError, ProfileIssue
from prioscore.server.profiles.check import (
    ARRAYS,
    DEFAULT_FIT_WEIGHT,
    KEYS,
    LIMITS,
    TABLES,
    Checker,
    check_input_names,
    default_max_points,
    describe,
    hint,
    read_disqualify,
    read_fit,
)
from prioscore.server.profiles.graph import check_profile_set, dependency_order
from prioscore.server.profiles.options import (
    read_alerts,
    read_combine,
    read_direction,
    read_refresh,
    read_scope,
)
from prioscore.server.profiles.signals import read_categories, read_signals
from prioscore.server.profiles.tiers_table import read_tiers
from prioscore.server.profiles.toml_text import Locator, syntax_error_line, to_toml

__all__ = [
    "load_directory",
    "load_profile",
    "load_profile_text",
    "profile_digest",
    "profile_to_toml",
]

_POSITION = re.compile(r"\s*\(at (line \d+, column \d+|end of document)\)")


def _scoring(
    c: Checker, scoring: dict[str, Any], signals: Sequence[Signal], has_fit: bool
) -> tuple[float, float]:
    max_points = c.get(scoring, "scoring", "max_points", "num")
    if max_points is not None and max_points <= 0:
        c.add("scoring.max_points", f"max_points must be > 0, got {max_points:g}")
    elif "max_points" not in scoring:
        for i, s in enumerate(signals):
            if s.weight > 0 and s.cap is None and not c.reported(f"signals[{i}].cap"):
                c.add(
                    f"signals[{i}].cap",
                    f"signal {s.name!r} has a positive weight but no cap, so max_points "
                    "cannot be derived; add cap = ... or set [scoring] max_points",
                )
        max_points = default_max_points(signals)
        if max_points == 0.0 and signals:
            c.add("scoring.max_points", "no signal has a positive weight; set [scoring] max_points")
    fit_weight = c.get(scoring, "scoring", "fit_weight", "num")
    if fit_weight is not None and not 0.0 <= fit_weight <= 1.0:
        c.add("scoring.fit_weight", f"fit_weight must be between 0 and 1, got {fit_weight:g}")
    elif fit_weight and not has_fit:
        c.add(
            "scoring.fit_weight",
            f"fit_weight is {fit_weight:g} but there are no [[fit]] rules; remove it or add rules",
        )
    if fit_weight is None:
        fit_weight = DEFAULT_FIT_WEIGHT if has_fit else 0.0
    return max_points or 0.0, fit_weight


def _check(c: Checker, data: dict[str, Any]) -> Profile:
    """Every rule over one parsed file; read `c.issues` before trusting the result."""
    everything = TABLES + ARRAYS
    for key in data:
        if key not in everything:
            c.add(
                key,
                f"unknown table [{key}]{hint(key, everything)}; "
                f"valid tables: {', '.join(everything)}",
            )
    head = c.section(data, "profile", required=True)
    before = len(c.issues)
    c.unknown(head, "profile", KEYS["profile"])
    name = c.name(head, "profile")
    version = head.get("version")
    if "version" not in head:
        c.add("profile.version", "missing required key 'version'")
    elif not isinstance(version, int) or isinstance(version, bool) or version < 1:
        c.add("profile.version", f"version must be an integer >= 1, got {describe(version)}")
    entity = c.get(head, "profile", "entity", "str", required=True) or ""
    members = c.get(head, "profile", "members", "str") or ""
    if members and members == entity:
        c.add("profile.members", f"members must be another kind than the entity {entity!r}")
    direction = read_direction(c, head)
    if "profile" not in data:  # one issue for the missing table, not one per required key
        del c.issues[before:]
    scoring = c.section(data, "scoring")
    c.unknown(scoring, "scoring", KEYS["scoring"])
    categories = read_categories(c, data)
    signals = read_signals(c, data, [r.name for r in categories])
    fit, disqualify, tiers = read_fit(c, data), read_disqualify(c, data), read_tiers(c, data)
    max_points, fit_weight = _scoring(c, scoring, signals, bool(fit))
    refresh = read_refresh(c, scoring)
    if len(signals) > LIMITS.max_profile_signals:
        c.add("signals", f"{len(signals)} signals; at most {LIMITS.max_profile_signals}")
    profile = Profile(
        name=name,
        version=version if isinstance(version, int) else 0,
        entity=entity,
        signals=signals,
        tiers=tiers,
        max_points=max_points,
        description=c.get(head, "profile", "description", "str") or "",
        categories=categories,
        fit=fit,
        disqualify=disqualify,
        fit_weight=fit_weight,
        source=c.source,
        members=members,
        refresh_seconds=refresh,
        direction=direction,
        combine=read_combine(c, scoring, bool(fit)),
        scope=read_scope(c, data),
        hysteresis=read_alerts(c, data, tiers.mode),
    )
    check_input_names(c, profile)
    return profile


def load_profile_text(text: str, source: str) -> Profile:
    """Parses and validates one profile; `source` names the file in every issue.

    Raises ProfileInvalidError with all issues of the file, sorted by line, so an editor
    can fix them in one pass (a TOML syntax error stops parsing, so it comes alone).
    """
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > LIMITS.max_profile_bytes:
        reason = f"{size} bytes; a profile is at most {LIMITS.max_profile_bytes}"
        raise ProfileInvalidError([ProfileIssue(source, 0, "", reason)])
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = syntax_error_line(str(exc), text)
        reason = "TOML syntax error: " + _POSITION.sub("", str(exc))
        issue = ProfileIssue(source, line, Locator(text).path_at(line), reason)
        raise ProfileInvalidError([issue]) from exc
    checker = Checker(source, text)
    profile = _check(checker, data)
    if checker.issues:
        raise ProfileInvalidError(sorted(checker.issues, key=lambda issue: issue.line))
    return profile


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileInvalidError([ProfileIssue(str(path), 0, "", f"cannot read: {exc}")]) from exc


def load_profile(path: str | Path) -> Profile:
    """Loads one profile file; its path (as given) becomes `Profile.source`."""
    return load_profile_text(_read(Path(path)), str(path))


def load_directory(path: str | Path) -> dict[str, Profile]:
    """Every *.toml in `path` keyed by profile name, or one error listing all bad files.

    All-or-nothing on purpose: a reload never leaves the service with half a profile set,
    and one error report covers every file so nobody fixes them one reload at a time.
    Duplicate profile names are reported on the later file (files load in name order).
    Score signals are checked across the set (unknown profiles, cycles with their path),
    and the result is in dependency order: each profile after the profiles it reads.
    An empty directory yields {}; the caller decides whether that is acceptable.
    """
    directory = Path(path)
    if not directory.is_dir():
        issue = ProfileIssue(str(directory), 0, "", "profile directory does not exist")
        raise ProfileInvalidError([issue])
    profiles: dict[str, Profile] = {}
    texts: dict[str, str] = {}
    issues: list[ProfileIssue] = []
    for file in sorted(directory.glob("*.toml")):
        try:
            text = _read(file)
            profile = load_profile_text(text, str(file))
        except ProfileInvalidError as exc:
            issues.extend(exc.issues)
            continue
        if profile.name in profiles:
            first = profiles[profile.name].source
            reason = f"duplicate profile name {profile.name!r}: already defined in {first}"
            line = Locator(text).line_of("profile.name")
            issues.append(ProfileIssue(str(file), line, "profile.name", reason))
            continue
        profiles[profile.name] = profile
        texts[profile.name] = text
    if not issues:
        issues = check_profile_set(profiles, texts)
    if issues:
        raise ProfileInvalidError(issues)
    return dependency_order(profiles)


def profile_to_toml(profile: Profile) -> str:
    """TOML that loads back equal to `profile` (except `source`); for calibrated candidates.

    max_points / fit_weight are written only where they differ from what the loader would
    derive, so the written file keeps following its caps like a hand-written one.
    """
    return to_toml(
        profile,
        default_max_points=default_max_points(profile.signals),
        default_fit_weight=DEFAULT_FIT_WEIGHT if profile.fit else 0.0,
    )


def profile_digest(profile: Profile) -> str:
    """16 hex chars of SHA-256 over the canonical TOML: changes iff the content changes.

    Canonical TOML ignores comments, layout and `source`, so reformatting a file or moving
    it does not look like a change on reload, while any weight, cap or text change does.
    """
    return hashlib.sha256(profile_to_toml(profile).encode("utf-8")).hexdigest()[:16]
