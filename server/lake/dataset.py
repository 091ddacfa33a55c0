"""A lake dataset: Parquet partitions of events (and of entities), checked before any work.

Layout: `--events DIR` holds one Parquet file per partition (`*.parquet`); `--entities DIR`,
when given, holds the entity rows of the same partitions under the same file names. The
contract that makes partitions independent: every event and entity row of an account and
of its members lies in one partition (partition by account, or by entity when no profile
rolls members up). The runner checks that no entity id appears in two partitions.

Events: `entity_id` (string), `event` (string), `ts` (epoch seconds as a number, or a
timestamp), optional `value` (number; null/NaN = 1.0, as the service reads it), and one
column per event property the profile reads (string properties as strings, numeric ones
as numbers, null = absent). Entities: `id` (string), optional `kind` and `account_id`
(strings; required for rollups and score signals), and one column per attribute the
profile reads (string attributes as strings, numeric ones as numbers). Every column a
profile reads must be present (a column of nulls is fine): a missing one is far more
often a misnamed column than an attribute nobody has.

Everything is checked on the Parquet schemas alone (no row is read), and every problem is
reported at once, naming the file and the column, before anything is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from prioscore.server.engine import Profile, profile_inputs
from prioscore.server.errors import PrioscoreError


class LakeInputError(PrioscoreError):
    """A dataset or option the lake runner cannot use; every problem names its file or
    option, and nothing has been written."""

    reason = "LAKE_INPUT_INVALID"

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))

    def __reduce__(self) -> tuple[type[LakeInputError], tuple[list[str]]]:
        """Raised in a worker, re-raised by the driver: pickled with its problems."""
        return (LakeInputError, (self.problems,))


@dataclass(frozen=True)
class Partition:
    """One unit of work: its name and its events and entities files (None = no rows)."""

    name: str
    events: Path | None
    entities: Path | None
    outcomes: Path | None = None


@dataclass(frozen=True)
class Columns:
    """What the profile needs from each file beyond the fixed columns."""

    string_properties: tuple[str, ...]
    numeric_properties: tuple[str, ...]
    categorical_attributes: tuple[str, ...]
    numeric_attributes: tuple[str, ...]
    member_attributes: tuple[str, ...]  # `by` of score signals: members' string attributes


def needed_columns(profile: Profile) -> Columns:
    needs = profile_inputs(profile)
    numeric_attrs = needs.numeric_attributes
    return Columns(
        needs.string_properties,
        needs.numeric_properties,
        tuple(a for a in needs.categorical_attributes if a not in numeric_attrs),
        numeric_attrs,
        tuple(sorted({s.by for s in profile.signals if s.reads_scores and s.by})),
    )


def reading_order(profile: Profile, profiles: Mapping[str, Profile]) -> tuple[Profile, ...]:
    """The profiles `profile` reads scores of, directly or not, each after the profiles it
    reads, then `profile` itself: the order a partition task scores them in."""
    order: dict[str, Profile] = {}

    def visit(p: Profile, path: tuple[str, ...]) -> None:
        for name in sorted(p.reads_profiles):
            read = profiles.get(name)
            if read is None:
                raise LakeInputError([f"profile {p.name} reads {name!r}: no such profile"])
            if name in path:  # the profile set's check refuses cycles; never loop here
                raise LakeInputError([f"profile cycle: {' -> '.join((*path, name))}"])
            if name not in order:
                visit(read, (*path, name))
        order[p.name] = p

    visit(profile, (profile.name,))
    return tuple(order.values())


def _files(folder: Path, option: str) -> dict[str, Path]:
    if not folder.is_dir():
        raise LakeInputError([f"{option} {folder}: not a directory of Parquet files"])
    found = {p.name: p for p in sorted(folder.glob("*.parquet"))}
    if not found:
        raise LakeInputError([f"{option} {folder}: no *.parquet files"])
    return found


def discover(events: Path, entities: Path | None, outcomes: Path | None = None) -> list[Partition]:
    """The partitions: the union of file names in the folders, sorted (with outcomes:
    only the partitions that have an outcomes file)."""
    event_files = _files(events, "--events")
    entity_files = _files(entities, "--entities") if entities is not None else {}
    outcome_files = _files(outcomes, "--outcomes") if outcomes is not None else {}
    names = sorted(outcome_files or event_files.keys() | entity_files.keys())
    return [
        Partition(n, event_files.get(n), entity_files.get(n), outcome_files.get(n)) for n in names
    ]


def _is_string(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def _is_number(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t)


def _schema(path: Path, problems: list[str]) -> pa.Schema | None:
    try:
        return pq.read_schema(path)
    except (OSError, pa.ArrowException) as error:
        problems.append(f"{path}: not a readable Parquet file: {error}")
        return None


def _expect(
    path: Path, schema: pa.Schema, wanted: dict[str, str], problems: list[str], why: str = ""
) -> None:
    """Each wanted column (name -> "string" | "number" | "time") present with that type."""
    checks = {
        "string": _is_string,
        "number": _is_number,
        "label": lambda t: pa.types.is_boolean(t) or pa.types.is_integer(t),
    }
    for name, kind in wanted.items():
        if name not in schema.names:
            problems.append(f"{path}: column '{name}' missing{why}")
            continue
        t = schema.field(name).type
        ok = _is_number(t) or pa.types.is_timestamp(t) if kind == "time" else checks[kind](t)
        if not ok:
            problems.append(f"{path}: column '{name}' is {t}, expected {kind}")


def check(partitions: list[Partition], profiles: tuple[Profile, ...], with_entities: bool) -> None:
    """Raises LakeInputError listing every missing or mistyped column in every file, for
    every profile a task scores."""
    problems: list[str] = []
    for profile in profiles:
        _check(partitions, profile, with_entities, problems)
    for part in partitions:
        if part.outcomes is not None and (schema := _schema(part.outcomes, problems)):
            wanted = {"entity_id": "string", "label": "label", "time": "time"}
            _expect(part.outcomes, schema, wanted, problems)
    if problems:
        raise LakeInputError(list(dict.fromkeys(problems)))


def _check(
    partitions: list[Partition], profile: Profile, with_entities: bool, problems: list[str]
) -> None:
    cols = needed_columns(profile)
    attributes = cols.categorical_attributes + cols.numeric_attributes + cols.member_attributes
    related = bool(profile.reads_profiles)
    if not with_entities and (attributes or profile.members or related):
        reads = ", ".join(attributes) or f"members of kind '{profile.members}'"
        if not attributes and not profile.members:
            reads = "other profiles' scores of related entities (entities.account_id)"
        problems.append(f"--entities: required, profile {profile.name} reads {reads}")
    for part in partitions:
        if part.events is not None and (schema := _schema(part.events, problems)):
            wanted = {"entity_id": "string", "event": "string", "ts": "time"}
            if "value" in schema.names:
                wanted["value"] = "number"
            _expect(part.events, schema, wanted, problems)
            props = {p: "string" for p in cols.string_properties}
            props |= {p: "number" for p in cols.numeric_properties}
            _expect(part.events, schema, props, problems, f" (profile {profile.name} reads it)")
        if part.entities is not None and (schema := _schema(part.entities, problems)):
            wanted = {"id": "string"}
            wanted |= {c: "string" for c in ("kind", "account_id") if c in schema.names}
            if profile.members:
                wanted["account_id"] = wanted["kind"] = "string"
            if related:
                wanted["account_id"] = "string"
            _expect(part.entities, schema, wanted, problems)
            attrs = {a: "string" for a in cols.categorical_attributes + cols.member_attributes}
            attrs |= {a: "number" for a in cols.numeric_attributes}
            _expect(part.entities, schema, attrs, problems, f" (profile {profile.name} reads it)")


__all__ = [
    "Columns",
    "LakeInputError",
    "Partition",
    "check",
    "discover",
    "needed_columns",
    "reading_order",
]
