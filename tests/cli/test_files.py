"""Event files, feature files, trends and tables: the CLI's helpers, no server needed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from prioscore.clients.cli.batchio import open_features, read_chunks
from prioscore.clients.cli.eventfile import check_events, read_events
from prioscore.clients.cli.inputerrors import InputFileError
from prioscore.clients.cli.output import table
from prioscore.clients.trends import risky_tiers, trend_of
from prioscore.v1 import scoring_service_pb2 as scoring_pb
from prioscore.v1 import types_pb2

HEADER = (
    "message_id,kind,entity_id,entity_kind,event,time,value,"
    "prop.url,metric.clicks,trait.seniority,trait.employees,trait.zip"
)
CSV = f"""{HEADER}
m1,identify,c1,contact,,,,,,vp,250,02139
m2,track,c1,contact,page_view,2026-05-01T10:00:00Z,42,/pricing,3,,,
m3,track,c1,contact,page_view,1777629600000,,/docs,,,,
"""


def test_csv_rows_become_typed_events(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text(CSV)
    assert check_events(path, "csv") == (3, set())
    identify, view, docs = read_events(path, "csv")
    assert identify.kind == types_pb2.EVENT_KIND_IDENTIFY and identify.entity_kind == "contact"
    assert dict(identify.traits) == {"seniority": "vp", "zip": "02139"}  # leading zero: text
    assert dict(identify.numeric_traits) == {"employees": 250.0}
    assert view.event == "page_view" and view.value == 42 and view.time.seconds == 1_777_629_600
    assert dict(view.properties) == {"url": "/pricing"} and dict(view.metrics) == {"clicks": 3}
    assert docs.time.seconds == 1_777_629_600 and not docs.HasField("value")


def test_jsonl_objects_split_by_json_type(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    rows = [
        {"type": "track", "userId": "a1", "event": "nps_response", "timestamp": 1_700_000_000,
         "properties": {"nps_group": "detractor", "score": 3, "ok": True}},
        {"kind": "group", "entity_id": "c1", "groupId": "a1", "traits": {"plan": "monthly",
         "seats": 12}},
    ]  # fmt: skip
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    nps, group = read_events(path, "jsonl")
    assert dict(nps.properties) == {"nps_group": "detractor", "ok": "true"}
    assert dict(nps.metrics) == {"score": 3.0}
    assert group.kind == types_pb2.EVENT_KIND_GROUP and group.account_id == "a1"
    assert dict(group.traits) == {"plan": "monthly"} and dict(group.numeric_traits) == {"seats": 12}


@pytest.mark.parametrize(
    ("text", "line", "field"),
    [
        ("kind,entity_id,event\ntrack,c1,login\ntrack,,login\n", 3, "entity_id"),
        ("kind,entity_id,event\nshout,c1,login\n", 2, "kind"),
        ("kind,entity_id,event,time\ntrack,c1,login,noon\n", 2, "time"),
        ("kind,entity_id,event,metric.clicks\ntrack,c1,login,many\n", 2, "metric.clicks"),
        ("kind,entity_id,event,properties\ntrack,c1,login,{oops\n", 2, "properties"),
        ("kind,entity_id\ngroup,c1\n", 2, "account_id"),
        ("message_id,entity_id,event\nm1,c1,a\nm1,c2,a\n", 3, "message_id"),
    ],
)
def test_bad_rows_name_file_line_and_field(
    tmp_path: Path, text: str, line: int, field: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(InputFileError) as caught:
        check_events(path, "csv")
    [problem] = caught.value.problems
    assert (problem.where, problem.field) == (f"line {line}", field)
    assert str(path) in caught.value.describe()[0]


def test_broken_json_line_is_located(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"entity_id": "c1", "event": "x"}\n[1, 2]\n')
    with pytest.raises(InputFileError) as caught:
        check_events(path, "jsonl")
    assert caught.value.problems[0].where == "line 2"


def _feature_file(tmp_path: Path, name: str, columns: dict[str, list[object]]) -> Path:
    path = tmp_path / name
    data = pa.table(columns)
    if name.endswith(".csv"):
        import pyarrow.csv as pacsv

        pacsv.write_csv(data, path)
    else:
        pq.write_table(data, path)
    return path


@pytest.mark.parametrize("name", ["f.csv", "f.parquet"])
def test_feature_chunks_fill_missing_and_keep_ids(tmp_path: Path, name: str) -> None:
    n = 25
    path = _feature_file(
        tmp_path,
        name,
        {
            "extra": ["x"] * n,
            "b": [float(i) if i % 5 else None for i in range(n)],
            "id": [f"e{i}" for i in range(n)],
            "a": [i * 2.0 for i in range(n)],
        },
    )
    source = open_features(path, ["a", "b"], None)
    assert source.id_column == "id"
    chunks = list(read_chunks(source, [0.0, -1.0], chunk_rows=10))
    assert [c.features.shape for c in chunks] == [(10, 2), (10, 2), (5, 2)]
    assert [c.start for c in chunks] == [0, 10, 20]
    whole = np.concatenate([c.features for c in chunks])
    np.testing.assert_array_equal(whole[:, 0], np.arange(n) * 2.0)
    assert whole[5, 1] == -1.0 and whole[6, 1] == 6.0  # empty cell -> the missing value
    assert chunks[2].ids is not None and chunks[2].ids.to_pylist()[0] == "e20"


def test_text_in_a_csv_signal_column_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    rows = ["id,a,b"] + [f"e{i},{i},1" for i in range(50_000)]
    rows[31_337] = "e31336,lots,1"
    path.write_text("\n".join(rows) + "\n")
    source = open_features(path, ["a", "b"], None)
    with pytest.raises(InputFileError) as caught:
        list(read_chunks(source, [0, 0], 10_000))
    [problem] = caught.value.problems
    assert (problem.where, problem.field) == ("line 31338", "a")
    assert "'lots'" in problem.message


def test_parquet_text_and_infinity_are_located_by_row(tmp_path: Path) -> None:
    text = _feature_file(tmp_path, "t.parquet", {"a": ["1", "2", "x"], "b": [1.0, 2.0, 3.0]})
    with pytest.raises(InputFileError) as caught:
        list(read_chunks(open_features(text, ["a", "b"], None), [0, 0], 2))
    assert (caught.value.problems[0].where, caught.value.problems[0].field) == ("row 3", "a")
    inf = _feature_file(tmp_path, "i.parquet", {"a": [1.0, 2.0], "b": [1.0, float("inf")]})
    with pytest.raises(InputFileError) as caught:
        list(read_chunks(open_features(inf, ["a", "b"], None), [0, 0], 10))
    assert (caught.value.problems[0].where, caught.value.problems[0].field) == ("row 2", "b")


def test_missing_signal_columns_are_named(tmp_path: Path) -> None:
    path = _feature_file(tmp_path, "f.csv", {"a": [1.0]})
    with pytest.raises(InputFileError) as caught:
        open_features(path, ["a", "b", "c"], None)
    *columns, expected = caught.value.problems
    assert [(p.field, p.message) for p in columns] == [
        ("b", "missing column"),
        ("c", "missing column"),
    ]
    assert caught.value.problems[0].where == "line 1"
    # The profile's signal list is said once, not once per missing column.
    assert expected.message == "the profile's signals: a, b, c"
    rendered = "\n".join(p.render(path) for p in caught.value.problems)
    assert rendered.count("a, b, c") == 1


def _point(seconds: float, score: float) -> scoring_pb.ScoreHistoryPoint:
    return scoring_pb.ScoreHistoryPoint(time=Timestamp(seconds=int(seconds)), score=score)


def test_trend_compares_with_the_score_days_ago() -> None:
    now, day = 1_800_000_000.0, 86_400.0
    history = [_point(now, 70), _point(now - 10 * day, 66), _point(now - 40 * day, 50)]
    assert trend_of(history, now=now, days=30, threshold=2).direction == "rising"
    assert trend_of(history, now=now, days=5, threshold=2).delta == pytest.approx(4)
    assert trend_of(history, now=now, days=5, threshold=5).direction == "flat"
    falling = [_point(now, 40), _point(now - 31 * day, 60)]
    assert trend_of(falling, now=now, days=30, threshold=2).direction == "falling"
    young = trend_of([_point(now, 40), _point(now - day, 60)], now=now, days=30, threshold=2)
    assert (young.direction, young.delta) == ("unknown", 0.0)  # not yet 30 days of history
    assert young.span_days == pytest.approx(1.0)
    assert trend_of([], now=now, days=30, threshold=2).direction == "unknown"


def test_risky_tiers_start_at_at_risk() -> None:
    assert risky_tiers(["healthy", "watch", "at_risk", "critical"]) == ["at_risk", "critical"]
    assert risky_tiers(["low", "mid", "high", "top"]) == ["high", "top"]


def test_table_aligns_numbers_right() -> None:
    text = table([{"name": "a", "score": 5.25}, {"name": "bb", "score": 10.0}], ["name", "score"])
    assert [line.rstrip() for line in text.splitlines()] == [
        "NAME  SCORE",
        "----- -----",
        "a       5.2",
        "bb     10.0",
    ]


def test_identical_rows_without_a_time_stay_apart_and_reimport_is_idempotent(
    tmp_path: Path,
) -> None:
    path = tmp_path / "views.csv"
    path.write_text("entity_id,event\nc1,page_view\nc1,page_view\nc1,page_view\n")
    first = [e.message_id for e in read_events(path, "csv")]
    assert len(set(first)) == 3  # three page views, not one
    assert [e.message_id for e in read_events(path, "csv")] == first  # same file, same ids
    assert check_events(path, "csv")[0] == 3
