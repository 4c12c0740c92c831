"""Spark's s3a connector (local mode): write, append and read Parquet at s3a://repo/branch/path,
with branch isolation. s3a signs its PUTs with STREAMING-AWS4-HMAC-SHA256-PAYLOAD chunks after
`Expect: 100-continue`, sends If-Match on reads, and renames with copy + delete."""

import shutil

import pytest

from conftest import ACCESS_KEY, SECRET_KEY

pytestmark = pytest.mark.client("spark")


@pytest.fixture(scope="module")
def spark(sluice):
    pytest.importorskip("pyspark")
    if shutil.which("java") is None:
        pytest.skip("Java is not installed")
    from pyspark.sql import SparkSession

    from spark_jars import ensure_jars

    session = (
        SparkSession.builder.master("local[2]")
        .appName("sluice-it")
        .config("spark.jars", ",".join(ensure_jars()))
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.hadoop.fs.s3a.endpoint", sluice.endpoint)
        .config("spark.hadoop.fs.s3a.endpoint.region", "us-east-1")
        .config("spark.hadoop.fs.s3a.path.style.access", "true")
        .config("spark.hadoop.fs.s3a.connection.ssl.enabled", "false")
        .config("spark.hadoop.fs.s3a.aws.credentials.provider",
                "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider")
        .config("spark.hadoop.fs.s3a.access.key", ACCESS_KEY)
        .config("spark.hadoop.fs.s3a.secret.key", SECRET_KEY)
        .config("spark.hadoop.fs.s3a.change.detection.mode", "server")
        .config("spark.hadoop.mapreduce.fileoutputcommitter.algorithm.version", "1")
        .config("spark.hadoop.fs.s3a.multipart.size", "5M")
        .config("spark.hadoop.fs.s3a.multipart.threshold", "5M")
        .getOrCreate()
    )
    yield session
    session.stop()


def test_spark_writes_appends_and_reads_on_branches(sluice, repo, spark):
    path = f"s3a://{repo}/main/tables/reviews"
    df = spark.range(0, 50_000).selectExpr("id", "id % 97 as product", "concat('review ', id) as body")
    df.write.mode("overwrite").parquet(path)
    assert spark.read.parquet(path).count() == 50_000
    sluice.commit(repo, "main", "reviews")

    sluice.create_branch(repo, "double-branch")
    branch_path = f"s3a://{repo}/double-branch/tables/reviews"
    spark.read.parquet(branch_path).write.mode("append").parquet(branch_path)
    assert spark.read.parquet(branch_path).count() == 100_000
    assert spark.read.parquet(path).count() == 50_000, "main is untouched"

    # A large file goes through s3a's multipart upload; reading it back ranges over it.
    big = spark.range(0, 1_500_000).selectExpr("id", "uuid() as u").coalesce(1)
    big.write.mode("overwrite").parquet(f"s3a://{repo}/main/tables/big")
    assert spark.read.parquet(f"s3a://{repo}/main/tables/big").count() == 1_500_000


def test_seed_scenario_with_spark_appending(sluice, repo, spark):
    """The seed scenario's append done by Spark's s3a writer: the gate refuses the merge and
    names every appended row as a duplicate, although Spark's files differ byte for byte."""
    import pyarrow.parquet as pq

    from reviews import ACTION_FILE, reviews
    from test_pyarrow import filesystem

    fs = filesystem(sluice)
    rows = 100_000
    for part in range(2):
        pq.write_table(reviews(part * rows // 2, rows // 2), f"{repo}/main/reviews/part-{part}.parquet",
                       filesystem=fs)
    sluice.s3().put_object(Bucket=repo, Key="main/_sluice_actions/gate.yaml", Body=ACTION_FILE.encode())
    sluice.commit(repo, "main", "reviews and the gate")
    sluice.create_branch(repo, "double-branch")
    path = f"s3a://{repo}/double-branch/reviews"
    spark.read.parquet(path).write.mode("append").parquet(path)
    assert spark.read.parquet(path).count() == 2 * rows
    sluice.commit(repo, "double-branch", "spark appended the reviews again")

    r = sluice.api("POST", f"/repositories/{repo}/refs/double-branch/merge/main", {})
    assert r.status_code == 412, r.text
    check = r.json()["report"]["hooks"][0]["report"]
    assert (check["left"]["rows"], check["right"]["rows"]) == (rows, 2 * rows)
    assert check["duplicates"]["duplicate_rows"] == rows
    assert check["duplicates"]["identical_files"] == 0, "Spark's files are its own"
    rows_on_main = sluice.api("GET", f"/repositories/{repo}/refs/main/rows?prefix=reviews").json()["rows"]
    assert rows_on_main == rows
