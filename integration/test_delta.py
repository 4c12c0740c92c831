"""Delta Lake tables written through Sluice's S3 endpoint by delta-rs (the `deltalake`
package): counts, the duplicate gate and SQL read the table's live files at the ref, so an
overwrite's removed files (still in the folder until VACUUM) are no rows; deltalake itself
reads the same number back through S3."""

import json

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from conftest import ACCESS_KEY, SECRET_KEY
from reviews import reviews
from test_quality_gate import cli, count

pytestmark = pytest.mark.client("deltalake")

GATE = b"""\
name: delta gate
on:
  pre-merge:
    branches: [main]
hooks:
  - id: no_duplicate_reviews
    type: row_check
    properties:
      prefix: reviews_delta/
      key_columns: [review_id]
"""


def storage(sluice):
    return {
        "AWS_ENDPOINT_URL": sluice.endpoint,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_REGION": "us-east-1",
        "AWS_ALLOW_HTTP": "true",
        # Sluice answers PUT If-None-Match: * as S3 does, so log commits cannot collide.
        "AWS_CONDITIONAL_PUT": "etag",
    }


def write(sluice, uri, table, mode, **kw):
    write_deltalake(uri, table, mode=mode, storage_options=storage(sluice), **kw)


def test_an_overwritten_delta_table_counts_its_live_rows(sluice, repo):
    uri = f"s3://{repo}/main/reviews_delta"
    write(sluice, uri, reviews(0, 10_000), "overwrite")     # version 0
    write(sluice, uri, reviews(10_000, 5_000), "append")    # version 1
    sluice.commit(repo, "main", "two Delta versions")
    write(sluice, uri, reviews(0, 3_000), "overwrite")      # version 2: 3,000 rows live
    sluice.commit(repo, "main", "overwrite")

    files = sluice.s3().list_objects_v2(Bucket=repo, Prefix="main/reviews_delta/")["Contents"]
    parquet = [f["Key"] for f in files if f["Key"].endswith(".parquet") and "_delta_log" not in f["Key"]]
    assert len(parquet) == 3, parquet  # the overwritten files are still there

    now = count(sluice, f"sluice://{repo}/main/reviews_delta")
    assert (now["rows"], now["files"], now["format"], now["version"]) == (3_000, 1, "delta", 2), now
    read_back = DeltaTable(uri, storage_options=storage(sluice)).to_pyarrow_table()
    assert read_back.num_rows == now["rows"]
    verified = count(sluice, f"sluice://{repo}/main/reviews_delta", "--verify")
    assert verified["verified"] and verified["rows"] == 3_000
    human = cli(sluice, "count", f"sluice://{repo}/main/reviews_delta")
    assert "3000 rows in 1 files" in human.stdout and "Delta table, version 2" in human.stdout, human.stdout

    # The previous commit holds version 1 of the table.
    log = sluice.api("GET", f"/repositories/{repo}/refs/main/commits").json()["results"]
    before = count(sluice, f"sluice://{repo}/{log[1]['id']}/reviews_delta")
    assert (before["rows"], before["version"]) == (15_000, 1), before

    q = cli(sluice, "sql", f"sluice://{repo}/main", "SELECT count(*) AS n FROM reviews_delta", "--json")
    assert q.returncode == 0, q.stderr
    assert json.loads(q.stdout)["rows"] == [{"n": 3_000}]


def test_the_gate_checks_delta_appends(sluice, repo):
    uri = f"s3://{repo}/main/reviews_delta"
    write(sluice, uri, reviews(0, 10_000), "overwrite")
    write(sluice, uri, reviews(0, 4_000), "overwrite")  # rows 4,000..10,000 are removed
    sluice.s3().put_object(Bucket=repo, Key="main/_sluice_actions/delta.yaml", Body=GATE)
    sluice.commit(repo, "main", "a Delta table and its gate")

    # Appending rows the overwrite removed brings no duplicate: they are not in the table.
    sluice.create_branch(repo, "readd")
    write(sluice, f"s3://{repo}/readd/reviews_delta", reviews(6_000, 2_000), "append")
    sluice.commit(repo, "readd", "re-add removed rows")
    r = sluice.api("POST", f"/repositories/{repo}/refs/readd/merge/main", {})
    assert r.status_code == 200, r.text
    assert count(sluice, f"sluice://{repo}/main/reviews_delta")["rows"] == 6_000

    # Appending live rows again is refused, and the report names them.
    sluice.create_branch(repo, "again")
    write(sluice, f"s3://{repo}/again/reviews_delta", reviews(1_000, 500), "append")
    sluice.commit(repo, "again", "append live rows again")
    r = sluice.api("POST", f"/repositories/{repo}/refs/again/merge/main", {})
    assert r.status_code == 412, r.text
    check = r.json()["report"]["hooks"][0]["report"]
    assert check["duplicates"]["duplicate_rows"] == 500
    assert check["change"]["rows_added"] == 500
    # The report says which table versions the check read.
    assert check["left"]["delta_tables"] == [{"path": "reviews_delta/", "version": 2, "deleted_rows": 0}], check["left"]
    assert check["right"]["delta_tables"][0]["version"] == 3
    assert count(sluice, f"sluice://{repo}/main/reviews_delta")["rows"] == 6_000


def test_a_partition_folder_counts_through_its_table(sluice, repo):
    uri = f"s3://{repo}/main/events"
    table = pa.table({"day": ["a"] * 100 + ["b"] * 50, "n": list(range(150))})
    write(sluice, uri, table, "overwrite", partition_by=["day"])
    write(sluice, uri, pa.table({"day": ["a"] * 10, "n": list(range(10))}), "overwrite",
          partition_by=["day"])
    sluice.commit(repo, "main", "partitioned")
    whole = count(sluice, f"sluice://{repo}/main/events")
    assert (whole["rows"], whole["format"]) == (10, "delta"), whole
    day_b = count(sluice, f"sluice://{repo}/main/events/day=b")
    assert (day_b["rows"], day_b["format"], day_b["version"]) == (0, "delta", 1), day_b
