"""pyarrow's S3 filesystem: a Parquet dataset written and read on a branch."""

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from conftest import ACCESS_KEY, SECRET_KEY

pytestmark = pytest.mark.client("pyarrow")


def filesystem(sluice):
    return pafs.S3FileSystem(
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        endpoint_override=sluice.endpoint.removeprefix("http://"),
        scheme="http",
        region="us-east-1",
        allow_bucket_creation=False,
    )


def test_parquet_dataset_on_a_branch(sluice, repo):
    fs = filesystem(sluice)
    table = pa.table({"id": list(range(10_000)), "name": [f"n{i}" for i in range(10_000)]})
    pq.write_table(table, f"{repo}/main/base/part-0.parquet", filesystem=fs)
    sluice.commit(repo, "main", "base table")
    sluice.create_branch(repo, "etl")

    ds.write_dataset(table, f"{repo}/etl/derived", format="parquet", filesystem=fs,
                     max_rows_per_file=3000, max_rows_per_group=1000)
    derived = ds.dataset(f"{repo}/etl/derived", format="parquet", filesystem=fs).to_table()
    assert derived.num_rows == 10_000
    assert sorted(derived.column("id").to_pylist()) == list(range(10_000))
    # Appending on the branch leaves main as it was.
    pq.write_table(table, f"{repo}/etl/base/part-1.parquet", filesystem=fs)
    assert ds.dataset(f"{repo}/etl/base", format="parquet", filesystem=fs).count_rows() == 20_000
    assert ds.dataset(f"{repo}/main/base", format="parquet", filesystem=fs).count_rows() == 10_000
    info = fs.get_file_info(pafs.FileSelector(f"{repo}/main/", recursive=True))
    assert [i.path for i in info if i.type == pafs.FileType.File] == [f"{repo}/main/base/part-0.parquet"]
    # Ranged reads of one column go through the footer and column chunks only.
    col = pq.read_table(f"{repo}/main/base/part-0.parquet", filesystem=fs, columns=["name"])
    assert col.column("name")[9999].as_py() == "n9999"
