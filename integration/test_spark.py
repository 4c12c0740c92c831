"""Spark's s3a connector (local mode): write, append and read Parquet at s3a://repo/branch/path,
with branch isolation. s3a signs its PUTs with STREAMING-AWS4-HMAC-SHA256-PAYLOAD chunks after
`Expect: 100-continue`, sends If-Match on reads, and renames with copy + delete."""

import shutil

import pytest

from conftest import ACCESS_KEY, SECRET_KEY

pyspark = pytest.importorskip("pyspark")


@pytest.fixture(scope="module")
def spark(sluice):
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
