"""The walkthrough notebook, executed end to end with a Python kernel against the real
sidecar: Spark counts 486,000 rows on main and 972,000 on double-branch, and the merge is
refused."""

import os
from pathlib import Path

import pytest

from conftest import ACCESS_KEY, ROOT, SECRET_KEY

pytestmark = pytest.mark.client("notebook")

NOTEBOOK = ROOT / "examples" / "isolated-environments.ipynb"


def outputs_of(cell):
    text = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream" and out.get("name") == "stdout":
            text.append(out["text"] if isinstance(out["text"], str) else "".join(out["text"]))
    return "".join(text).split("\n")


def test_walkthrough_notebook_runs(sluice, tmp_path):
    import nbformat
    from nbclient import NotebookClient

    from spark_jars import ensure_jars

    # A repository named `example` may exist from another run of this session's server.
    r = sluice.api("GET", "/repositories/example")
    if r.status_code == 200:
        assert sluice.api("DELETE", "/repositories/example").status_code == 204
    env_before = dict(os.environ)
    os.environ.update(
        SLUICE_ENDPOINT=sluice.endpoint,
        SLUICE_ACCESS_KEY_ID=ACCESS_KEY,
        SLUICE_SECRET_ACCESS_KEY=SECRET_KEY,
        SPARK_JARS=",".join(ensure_jars()),
        SPARK_LOCAL_IP="127.0.0.1",
    )
    try:
        nb = nbformat.read(NOTEBOOK, as_version=4)
        NotebookClient(nb, timeout=900, kernel_name="python3",
                       resources={"metadata": {"path": str(tmp_path)}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(env_before)
    code = [c for c in nb.cells if c.cell_type == "code"]
    lines = [outputs_of(c) for c in code]
    # The branch cell prints main's count; the append cell prints double-branch's, then main's.
    branch_cell = next(l for c, l in zip(code, lines) if "double-branch" in c.source and "main_count =" in c.source
                       and "append" not in c.source)
    assert branch_cell[0] == "486000", branch_cell
    append_cell = next(l for c, l in zip(code, lines) if 'mode("append")' in c.source)
    assert append_cell[:2] == ["972000", "486000"], append_cell
    merge_cell = next(l for c, l in zip(code, lines) if "/merge/main" in c.source)
    assert "merge answered 412" in merge_cell, merge_cell
    assert "rows on main: 486000 rows on double-branch: 972000" in merge_cell, merge_cell
    assert "duplicate rows the merge would bring: 486000" in merge_cell, merge_cell
    assert lines[-1][0] == "486000", "main is unchanged after the refusal"
    assert sluice.api("GET", "/repositories/example/refs/main/rows").json()["rows"] == 486_000
