"""What `prioscore-lake score` accepts and refuses: bad input gets a clear error naming the
file, column or option with nothing written; point-in-time as_of; timestamp columns;
no entities folder."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from prioscore.clients.events import make_event
from prioscore.server.lake import Executor, Inline, LakeInputError, main, score_lake
from prioscore.server.profiles import ProfileRegistry
from tests.conftest import PROFILES
from tests.lake.lakedata import write_lake

NOW = 1_760_000_000.0


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    traits = {"industry": "software", "relationship": "prospect"}
    view = {"url": "/pricing", "form": ""}
    events = [
        make_event(
            "identify",
            "c1",
            traits={"seniority": "vp", **traits},
            numeric_traits={"employees": 300.0},
            entity_kind="contact",
        ),
        make_event("identify", "c2", traits={"seniority": "manager", **traits}),
        make_event("track", "c1", event="page_view", time=NOW - 86400, properties=view),
        make_event(
            "track",
            "c2",
            event="page_view",
            time=NOW - 7200,
            metrics={"clicks": 2.0},
            properties={**view, "url": "/blog"},
        ),
        make_event("track", "c2", event="page_view", time=NOW + 600, properties=view),
    ]
    return write_lake(events, tmp_path / "lake", partitions=2)


def run(lake: Path, out: Path, *extra: str, profile: str = "lead_qualification") -> tuple[int, str]:
    args = [
        "score",
        profile,
        "--events",
        str(lake / "events"),
        "--entities",
        str(lake / "entities"),
    ]
    args += ["--out", str(out), "--profiles", str(PROFILES), "--cluster", "inline"]
    result = CliRunner().invoke(main, [*args, "--as-of", str(NOW), *extra])
    return result.exit_code, result.output


def test_a_missing_property_column_names_the_file_and_column(lake: Path, tmp_path: Path) -> None:
    part = lake / "events" / "part-0.parquet"
    pq.write_table(pq.read_table(part).drop_columns(["url"]), part)
    code, output = run(lake, tmp_path / "out")
    assert code == 1
    assert f"{part}: column 'url' missing (profile lead_qualification reads it)" in output
    assert not (tmp_path / "out").exists()


def test_a_mistyped_column_names_its_type(lake: Path, tmp_path: Path) -> None:
    part = lake / "events" / "part-1.parquet"
    table = pq.read_table(part)
    table = table.set_column(table.schema.get_field_index("ts"), "ts", pa.array(["x"] * len(table)))
    pq.write_table(table, part)
    code, output = run(lake, tmp_path / "out")
    assert code == 1 and f"{part}: column 'ts' is string, expected time" in output


@pytest.mark.parametrize(
    ("extra", "profile", "message"),
    [
        (("--as-of", "last tuesday"), "lead_qualification", "--as-of 'last tuesday'"),
        ((), "no_such_profile", "PROFILE 'no_such_profile': not in"),
        (("--cluster", "local"), "lead_qualification", "--cluster 'local': use inline, local[N]"),
    ],
)
def test_bad_options_are_named_and_nothing_is_written(
    lake: Path, tmp_path: Path, extra: tuple[str, ...], profile: str, message: str
) -> None:
    code, output = run(lake, tmp_path / "out", *extra, profile=profile)
    assert code == 1 and message in output, output
    assert not (tmp_path / "out").exists()


def test_a_profile_read_but_not_given_is_named(lake: Path, tmp_path: Path) -> None:
    profile = ProfileRegistry.from_directory(PROFILES).get("account_engagement")
    assert profile is not None
    with pytest.raises(LakeInputError, match="reads 'lead_qualification': no such profile"):
        score_lake(profile, lake / "events", lake / "entities", NOW, tmp_path / "out", Inline())
    assert not (tmp_path / "out").exists()


def test_an_existing_out_is_refused(lake: Path, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    code, output = run(lake, tmp_path / "out")
    assert code == 1 and "--out" in output and "already exists" in output


def test_events_after_as_of_do_not_count(lake: Path, tmp_path: Path) -> None:
    code, output = run(lake, tmp_path / "now")
    assert code == 0, output
    code, output = run(lake, tmp_path / "later", "--as-of", str(NOW + 3600))
    assert code == 0, output
    now = pq.read_table(tmp_path / "now").sort_by("entity_id")
    after = pq.read_table(tmp_path / "later").sort_by("entity_id")
    assert now["entity_id"].to_pylist() == ["c1", "c2"]
    # c2's /pricing view at NOW + 600 counts only for the later as_of.
    assert after["score"][1].as_py() > now["score"][1].as_py()


def test_an_entity_in_two_partitions_is_refused_on_the_cluster(
    lake: Path, tmp_path: Path, cluster: Executor
) -> None:
    parts = [lake / "events" / f"part-{k}.parquet" for k in range(2)]
    every = pa.concat_tables([pq.read_table(p) for p in parts])
    for part in parts:  # each entity's events now lie in both partitions
        pq.write_table(every, part)
    profile = ProfileRegistry.from_directory(PROFILES).get("lead_qualification")
    assert profile is not None
    with pytest.raises(LakeInputError, match="more than one partition") as raised:
        score_lake(profile, lake / "events", lake / "entities", NOW, tmp_path / "out", cluster)
    assert "part-0.parquet, part-1.parquet" in str(raised.value)
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.glob(".out*"))


MINIMAL = """
[profile]
name = "visits"
version = 1
entity = "contact"

[scoring]
max_points = 10

[[signals]]
name = "views"
event = "page_view"
aggregate = "count"
weight = 1
cap = 10

[tiers]
cold = 0
warm = 5
"""


def test_without_entities_every_entity_seen_in_events_is_scored(lake: Path, tmp_path: Path) -> None:
    """No --entities: kinds are unknown (scored by any profile), an empty partition
    file scores nobody and writes an empty part."""
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "visits.toml").write_text(MINIMAL)
    empty = lake / "events" / "part-9.parquet"
    pq.write_table(pq.read_table(lake / "events" / "part-0.parquet").slice(0, 0), empty)
    args = ["score", "visits", "--events", str(lake / "events"), "--out", str(tmp_path / "out")]
    args += ["--profiles", str(profiles), "--cluster", "inline", "--as-of", str(NOW + 3600)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    table = pq.read_table(tmp_path / "out").sort_by("entity_id")
    assert table["entity_id"].to_pylist() == ["c1", "c2"]
    assert table["score"].to_pylist() == [10.0, 20.0]
    assert pq.read_table(tmp_path / "out" / "part-9.parquet").num_rows == 0


def test_a_timestamp_ts_column_scores_like_epoch_seconds(lake: Path, tmp_path: Path) -> None:
    code, output = run(lake, tmp_path / "seconds")
    assert code == 0, output
    for part in (lake / "events").glob("*.parquet"):
        table = pq.read_table(part)
        micros = pa.array((table["ts"].to_numpy() * 1e6).round().astype("int64"))
        stamps = micros.cast(pa.timestamp("us", tz="UTC"))
        pq.write_table(table.set_column(table.schema.get_field_index("ts"), "ts", stamps), part)
    code, output = run(lake, tmp_path / "stamps")
    assert code == 0, output
    seconds = pq.read_table(tmp_path / "seconds").sort_by("entity_id")
    stamps = pq.read_table(tmp_path / "stamps").sort_by("entity_id")
    assert seconds["score"].to_pylist() == stamps["score"].to_pylist()
    assert seconds["reasons"].to_pylist() == stamps["reasons"].to_pylist()
