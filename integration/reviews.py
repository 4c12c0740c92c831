"""A synthetic table shaped like Amazon's customer-reviews Parquet dataset, generated with
pyarrow alone and deterministic, for the seed scenario and its Spark variant."""

import pyarrow as pa
import pyarrow.compute as pc

CATEGORIES = ["Books", "Music", "Video", "Toys", "Electronics", "Home", "Grocery", "Sports"]

ACTION_FILE = """\
name: reviews quality gate
on:
  pre-merge:
    branches: [main]          # glob patterns
hooks:
  - id: reviews_not_duplicated
    type: row_check
    properties:
      prefix: reviews/
      no_duplicate_rows: true         # or key_columns: [review_id]
      max_row_growth_pct: 50          # optional
      schema_unchanged: true          # optional
"""


# The smallest gate: no duplicate rows under t/ on merges into main (the lakeFS SDK tests).
NO_DUPES_GATE = b"""\
name: gate
on:
  pre-merge:
    branches: [main]
hooks:
  - id: no_dupes
    type: row_check
    properties:
      prefix: t/
      no_duplicate_rows: true
"""


def id_parquet(rows) -> bytes:
    """A Parquet file of one `id` column with `rows`."""
    import io

    import pyarrow.parquet as pq
    buf = io.BytesIO()
    pq.write_table(pa.table({"id": list(rows)}), buf)
    return buf.getvalue()


def reviews(start: int, count: int) -> pa.Table:
    """Rows `start .. start+count`: every column a function of the row number."""
    n = pa.array(range(start, start + count), pa.int64())
    text = lambda prefix: pc.binary_join_element_wise(prefix, pc.cast(n, pa.string()), "")  # noqa: E731
    return pa.table({
        "marketplace": pa.array(["US"] * count),
        "customer_id": pc.add(pc.multiply(pc.bit_wise_and(n, 0xFFFF), 7), 10_000),
        "review_id": text("R"),
        "product_id": text("B0"),
        "product_parent": pc.divide(n, 3),
        "product_title": text("Product title "),
        "product_category": pc.take(pa.array(CATEGORIES), pc.bit_wise_and(n, 7)),
        "star_rating": pc.cast(pc.add(pc.bit_wise_and(n, 3), 2), pa.int32()),
        "helpful_votes": pc.cast(pc.bit_wise_and(n, 31), pa.int32()),
        "total_votes": pc.cast(pc.bit_wise_and(n, 63), pa.int32()),
        "vine": pc.equal(pc.bit_wise_and(n, 15), 0),
        "verified_purchase": pc.not_equal(pc.bit_wise_and(n, 3), 0),
        "review_headline": text("Headline "),
        "review_body": text("A review body, number "),
        "review_date": pc.cast(pc.add(pc.cast(pc.bit_wise_and(n, 1023), pa.int32()), pa.scalar(16_000, pa.int32())),
                               pa.date32()),
    })
