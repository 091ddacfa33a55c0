"""`prioscore batch`: CSV and Parquet in/out, equal to unary scoring, nothing partial."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from prioscore.clients import PrioscoreClient
from prioscore.clients.cli.batchrun import SignalTable
from tests.cli.conftest import Cli
from tests.conftest import ServerHandle

PROFILE = "churn_risk"


@pytest.fixture
def api(grpc_server: ServerHandle) -> PrioscoreClient:
    with PrioscoreClient(grpc_server.target, timeout=20) as c:
        yield c  # type: ignore[misc]


def signal_names(api: PrioscoreClient) -> list[str]:
    return list(api.get_profile(PROFILE).profile.signal_names)


def write(path: Path, columns: dict[str, object]) -> Path:
    data = pa.table(columns)
    if path.suffix == ".csv":
        pacsv.write_csv(data, path)
    else:
        pq.write_table(data, path)
    return path


def read(path: Path) -> pa.Table:
    return pacsv.read_csv(path) if path.suffix == ".csv" else pq.read_table(path)


@pytest.mark.parametrize(("source", "out"), [("in.csv", "out.parquet"), ("in.parquet", "out.csv")])
def test_batch_rows_in_equal_rows_out_and_match_unary_scores(
    cli: Cli, api: PrioscoreClient, tmp_path: Path, source: str, out: str
) -> None:
    names = signal_names(api)
    rows = 23_456
    x = np.random.default_rng(9).gamma(1.2, 3.0, size=(rows, len(names)))
    columns: dict[str, object] = {"note": ["x"] * rows}  # extra columns are ignored
    columns |= {name: x[:, j] for j, name in enumerate(reversed(names))}  # any column order
    columns["id"] = [f"acct-{i}" for i in range(rows)]
    x = np.column_stack([columns[name] for name in names])
    result = cli("batch", PROFILE, str(write(tmp_path / source, columns)), str(tmp_path / out))
    assert f"scored {rows:,} rows" in result.stderr and "rows/s" in result.stderr

    table = read(tmp_path / out)
    assert table.num_rows == rows
    assert table.column_names[:4] == ["id", "score", "tier", "disqualified"]
    assert table.column("id").to_pylist()[:2] == ["acct-0", "acct-1"]
    sample = np.random.default_rng(1).choice(rows, 500, replace=False)
    unary = api.score_features(PROFILE, x[sample], [f"acct-{i}" for i in sample], top_reasons=3)
    scores = table.column("score").to_numpy()
    np.testing.assert_allclose(scores[sample], [s.score for s in unary])
    tiers = table.column("tier").to_pylist()
    assert [tiers[i] for i in sample] == [s.tier for s in unary]
    reasons = table.column("reason_1").to_pylist()
    assert [reasons[i] for i in sample] == [
        s.top_reasons[0].name if s.top_reasons else None for s in unary
    ]
    assert not list(tmp_path.glob(".*.tmp"))


def test_batch_without_ids_numbers_rows_and_fills_missing(
    cli: Cli, api: PrioscoreClient, tmp_path: Path
) -> None:
    names = signal_names(api)
    columns = {name: [1.0, None, 2.0] for name in names}
    source = write(tmp_path / "in.csv", columns)
    cli("batch", PROFILE, str(source), str(tmp_path / "out.csv"), "--reasons", "0", "--quiet")
    table = read(tmp_path / "out.csv")
    assert table.column_names == ["row", "score", "tier", "disqualified"]
    assert table.column("row").to_pylist() == [1, 2, 3]
    missing = api.get_profile(PROFILE).signals
    expected = api.score_features(PROFILE, np.array([[s.missing for s in missing]]))
    assert table.column("score").to_pylist()[1] == pytest.approx(expected[0].score)


def test_bad_csv_cell_names_file_line_column_and_writes_nothing(
    cli: Cli, api: PrioscoreClient, tmp_path: Path
) -> None:
    names = signal_names(api)
    rows = 30_000
    columns: dict[str, object] = {name: np.ones(rows) for name in names}
    source = write(tmp_path / "in.csv", columns)
    lines = source.read_text().splitlines()
    cells = lines[25_001].split(",")
    cells[3] = "n/a"
    lines[25_001] = ",".join(cells)  # line 25,002 of the file, column names[3]
    source.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.parquet"
    result = cli("batch", PROFILE, str(source), str(out), ok=False)
    assert result.exit_code == 1
    assert f"{source}: line 25002: field '{names[3]}'" in result.stderr
    assert not out.exists() and not list(tmp_path.glob(".*.tmp"))


def test_failed_run_leaves_an_existing_out_untouched(
    cli: Cli, api: PrioscoreClient, tmp_path: Path
) -> None:
    names = signal_names(api)
    out = tmp_path / "out.csv"
    out.write_text("previous results\n")
    bad = write(tmp_path / "in.parquet", {n: [1.0, 2.0, float("inf")] for n in names})
    result = cli("batch", PROFILE, str(bad), str(out), ok=False)
    assert f"{bad}: row 3: field '{names[0]}'" in result.stderr
    assert out.read_text() == "previous results\n"
    missing = write(tmp_path / "few.csv", {names[0]: [1.0]})
    result = cli("batch", PROFILE, str(missing), str(out), ok=False)
    assert f"{missing}: line 1: field '{names[1]}': missing column" in result.stderr
    assert out.read_text() == "previous results\n"
    wrong = cli("batch", PROFILE, str(missing), str(tmp_path / "out.xlsx"), ok=False)
    assert wrong.exit_code == 1 and "out.xlsx" in wrong.stderr


def test_client_side_reasons_match_the_servers(api: PrioscoreClient) -> None:
    """batch computes top reasons itself (batchrun.SignalTable); they equal the server's."""
    profile = "lead_qualification"
    table = SignalTable.of(api.get_profile(profile))
    x = np.random.default_rng(5).gamma(1.5, 2.0, size=(200, len(table.names)))
    order, points = table.top_reasons(x, 3)
    unary = api.score_features(profile, x, [f"r{i}" for i in range(200)], top_reasons=3)
    for row, score in enumerate(unary):
        expected = [(r.name, r.points) for r in score.top_reasons]
        got = [(table.names[c], p) for c, p in zip(order[row], points[row], strict=True) if p]
        assert [n for n, _ in got] == [n for n, _ in expected]
        np.testing.assert_allclose([p for _, p in got], [p for _, p in expected])
