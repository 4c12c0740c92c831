"""The seed scenario: 486,000 review rows on main with the action file; a branch appends them
again through S3; `sluice count` sees 486000 and 972000; the merge is refused with a report
that names the duplicates; main still counts 486000; a branch that adds new rows merges."""

import json
import os
import subprocess
import time

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
import requests

from conftest import ACCESS_KEY, SECRET_KEY, sluice_binary
from reviews import ACTION_FILE, reviews
from test_pyarrow import filesystem

pytestmark = pytest.mark.client("sluice cli")

SEED_ROWS = 486_000


def cli(sluice, *args):
    env = dict(os.environ, SLUICE_ENDPOINT=sluice.endpoint,
               SLUICE_ACCESS_KEY_ID=ACCESS_KEY, SLUICE_SECRET_ACCESS_KEY=SECRET_KEY)
    return subprocess.run([sluice_binary(), *args], env=env, capture_output=True, text=True, timeout=300)


def count(sluice, address, *flags):
    r = cli(sluice, "count", address, "--json", *flags)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_seed_scenario(sluice, repo):
    fs = filesystem(sluice)
    s3 = sluice.s3()
    # main: three files of 162,000 rows, and the gate.
    for part in range(3):
        pq.write_table(reviews(part * 162_000, 162_000), f"{repo}/main/reviews/part-{part:05}.snappy.parquet",
                       filesystem=fs, row_group_size=50_000)
    s3.put_object(Bucket=repo, Key="main/reviews/_SUCCESS", Body=b"")
    s3.put_object(Bucket=repo, Key="main/_sluice_actions/reviews_gate.yaml", Body=ACTION_FILE.encode())
    sluice.commit(repo, "main", "486k reviews and their quality gate")

    # double-branch appends main's rows again, as one new file, through S3.
    sluice.create_branch(repo, "double-branch")
    again = ds.dataset(f"{repo}/main/reviews", format="parquet", filesystem=fs).to_table()
    assert again.num_rows == SEED_ROWS
    pq.write_table(again, f"{repo}/double-branch/reviews/part-append.snappy.parquet", filesystem=fs)
    sluice.commit(repo, "double-branch", "append the reviews again")

    main = count(sluice, f"sluice://{repo}/main/reviews")
    assert (main["rows"], main["files"]) == (SEED_ROWS, 3)
    assert main["bytes"] > 0
    double = count(sluice, f"sluice://{repo}/double-branch/reviews/", "--verify")
    assert (double["rows"], double["files"], double["verified"]) == (2 * SEED_ROWS, 4, True)
    human = cli(sluice, "count", f"sluice://{repo}/double-branch/reviews")
    assert human.returncode == 0 and "972000 rows in 4 files" in human.stdout, human.stdout

    # The merge is refused, by the API with 412 and a report, and by the CLI.
    r = sluice.api("POST", f"/repositories/{repo}/refs/double-branch/merge/main", {})
    assert r.status_code == 412, r.text
    body = r.json()
    assert "reviews_not_duplicated" in body["message"]
    report = body["report"]
    assert report["failed_checks"] == ["reviews_not_duplicated"]
    check = report["hooks"][0]["report"]
    assert check["left"]["rows"] == SEED_ROWS
    assert check["right"]["rows"] == 2 * SEED_ROWS
    assert check["duplicates"]["duplicate_rows"] == SEED_ROWS
    assert check["duplicates"]["rows_checked"] == SEED_ROWS
    samples = check["duplicates"]["samples"]
    assert samples and samples[0]["row"]["review_id"].startswith("R")
    assert any("grow by 100.0%" in f for f in report["hooks"][0]["failures"])

    m = cli(sluice, "merge", f"sluice://{repo}/double-branch", f"sluice://{repo}/main", "--json")
    assert m.returncode != 0
    assert len(m.stderr.strip().splitlines()) == 1 and "412" in m.stderr, m.stderr
    cli_report = json.loads(m.stdout)
    assert cli_report["hooks"][0]["report"]["duplicates"]["duplicate_rows"] == SEED_ROWS
    m = cli(sluice, "merge", f"sluice://{repo}/double-branch", f"sluice://{repo}/main")
    assert m.returncode != 0 and "FAILED" in m.stdout and "486000 of 486000 added rows" in m.stdout, m.stdout

    assert count(sluice, f"sluice://{repo}/main/reviews")["rows"] == SEED_ROWS, "main untouched"

    # compare and sql say the same.
    c = cli(sluice, "compare", f"sluice://{repo}/main", f"sluice://{repo}/double-branch", "--prefix", "reviews",
            "--key-columns", "review_id", "--json")
    assert c.returncode == 0, c.stderr
    c = json.loads(c.stdout)
    assert (c["left"]["rows"], c["right"]["rows"], c["change"]["rows_added"]) == (SEED_ROWS, 2 * SEED_ROWS, SEED_ROWS)
    assert c["duplicates"]["duplicate_rows"] == SEED_ROWS and c["duplicates"]["columns"] == ["review_id"]
    q = cli(sluice, "sql", f"sluice://{repo}/main",
            "SELECT product_category, count(*) AS n FROM reviews GROUP BY product_category ORDER BY product_category",
            "--json")
    assert q.returncode == 0, q.stderr
    rows = json.loads(q.stdout)["rows"]
    assert sum(r["n"] for r in rows) == SEED_ROWS and len(rows) == 8

    # A branch that adds new rows merges.
    sluice.create_branch(repo, "new-reviews")
    pq.write_table(reviews(SEED_ROWS, 20_000), f"{repo}/new-reviews/reviews/part-new.snappy.parquet", filesystem=fs)
    sluice.commit(repo, "new-reviews", "20k new reviews")
    m = cli(sluice, "merge", f"sluice://{repo}/new-reviews", f"sluice://{repo}/main", "--json")
    assert m.returncode == 0, m.stdout + m.stderr
    assert count(sluice, f"sluice://{repo}/main/reviews")["rows"] == SEED_ROWS + 20_000

    # Every run is recorded, newest first, by API and CLI: three refusals (API, CLI --json,
    # CLI), then the merge that passed.
    runs = sluice.api("GET", f"/repositories/{repo}/actions/runs").json()["results"]
    assert [r["status"] for r in runs] == ["completed", "failed", "failed", "failed"]
    assert runs[1]["source_ref"] == "double-branch" and runs[1]["branch"] == "main"
    hooks = sluice.api("GET", f"/repositories/{repo}/actions/runs/{runs[1]['run_id']}/hooks").json()["results"]
    assert hooks[0]["hook_id"] == "reviews_not_duplicated" and hooks[0]["status"] == "failed"
    listed = cli(sluice, "actions", "runs", f"sluice://{repo}", "--json")
    assert listed.returncode == 0 and len(json.loads(listed.stdout)["results"]) == 4
    shown = cli(sluice, "actions", "show", f"sluice://{repo}", runs[1]["run_id"])
    assert shown.returncode == 0 and "FAILED" in shown.stdout


def test_counting_reports_broken_files(sluice, repo):
    fs = filesystem(sluice)
    s3 = sluice.s3()
    pq.write_table(reviews(0, 1000), f"{repo}/main/t/good.parquet", filesystem=fs)
    whole = s3.get_object(Bucket=repo, Key="main/t/good.parquet")["Body"].read()
    s3.put_object(Bucket=repo, Key="main/t/truncated.parquet", Body=whole[: len(whole) // 2])
    r = cli(sluice, "count", f"sluice://{repo}/main/t", "--json")
    assert r.returncode != 0
    out = json.loads(r.stdout)
    assert out["rows"] == 1000 and out["problems"][0]["path"] == "t/truncated.parquet"
    assert "t/truncated.parquet" in r.stderr
    bad = cli(sluice, "count", f"sluice://{repo}/nope/t")
    assert bad.returncode != 0 and len(bad.stderr.strip().splitlines()) == 1


def test_webhooks_decide_too(sluice, repo):
    import http.server
    import threading

    seen = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            seen.append((self.path, json.loads(body)))
            self.send_response(200 if "allow" in self.path else 409)
            self.end_headers()
            self.wfile.write(b"not today")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    s3 = sluice.s3()
    try:
        action = (f"name: remote checks\non:\n  pre-merge:\n    branches: ['ma*']\nhooks:\n"
                  f"  - id: remote\n    type: webhook\n    properties:\n"
                  f"      url: http://127.0.0.1:{port}/deny\n      timeout: 10s\n      query_params: {{team: data}}\n")
        s3.put_object(Bucket=repo, Key="main/x.txt", Body=b"x")
        sluice.commit(repo, "main")
        sluice.create_branch(repo, "hooked")
        s3.put_object(Bucket=repo, Key="hooked/_sluice_actions/remote.yaml", Body=action.encode())
        sluice.commit(repo, "hooked")
        r = sluice.api("POST", f"/repositories/{repo}/refs/hooked/merge/main", {})
        assert r.status_code == 412, r.text
        assert "409" in r.json()["message"] and "not today" in r.json()["message"]
        path, event = seen[-1]
        assert path == "/deny?team=data"
        assert event["event_type"] == "pre-merge" and event["branch_id"] == "main" and event["source_ref"] == "hooked"

        s3.put_object(Bucket=repo, Key="hooked/_sluice_actions/remote.yaml",
                      Body=action.replace("/deny", "/allow").encode())
        sluice.commit(repo, "hooked")
        r = sluice.api("POST", f"/repositories/{repo}/refs/hooked/merge/main", {})
        assert r.status_code == 200, r.text
    finally:
        server.shutdown()


def test_a_branch_cannot_switch_off_the_checks_that_guard_main(sluice, repo):
    """The gate reads the action files of the destination's head: a source that deletes or
    loosens them is still refused; a source's own extra check runs as well."""
    fs = filesystem(sluice)
    s3 = sluice.s3()
    pq.write_table(reviews(0, 10_000), f"{repo}/main/reviews/part-0.parquet", filesystem=fs)
    s3.put_object(Bucket=repo, Key="main/_sluice_actions/reviews_gate.yaml", Body=ACTION_FILE.encode())
    sluice.commit(repo, "main", "reviews and their gate")

    def duplicating_branch(name):
        sluice.create_branch(repo, name)
        pq.write_table(reviews(0, 10_000), f"{repo}/{name}/reviews/part-again.parquet", filesystem=fs)

    # Deleting the gate on the branch does not switch it off.
    duplicating_branch("no-gate")
    s3.delete_object(Bucket=repo, Key="no-gate/_sluice_actions/reviews_gate.yaml")
    sluice.commit(repo, "no-gate", "append again, and remove the gate")
    r = sluice.api("POST", f"/repositories/{repo}/refs/no-gate/merge/main", {})
    assert r.status_code == 412, r.text
    assert r.json()["report"]["failed_checks"] == ["reviews_not_duplicated"]

    # Nor does loosening it (the same file, checking nothing and only for other branches).
    duplicating_branch("loose-gate")
    loose = ACTION_FILE.replace("branches: [main]", "branches: [nothing-real]").replace(
        "no_duplicate_rows: true", "no_duplicate_rows: false").replace("max_row_growth_pct: 50", "max_row_growth_pct: 1000")
    s3.put_object(Bucket=repo, Key="loose-gate/_sluice_actions/reviews_gate.yaml", Body=loose.encode())
    sluice.commit(repo, "loose-gate", "append again, and loosen the gate")
    r = sluice.api("POST", f"/repositories/{repo}/refs/loose-gate/merge/main", {})
    assert r.status_code == 412, r.text
    assert "reviews_not_duplicated" in r.json()["report"]["failed_checks"]
    assert count(sluice, f"sluice://{repo}/main/reviews")["rows"] == 10_000, "main untouched"

    # A source's own, stricter check runs in addition to the destination's.
    sluice.create_branch(repo, "strict")
    pq.write_table(reviews(10_000, 2_000), f"{repo}/strict/reviews/part-new.parquet", filesystem=fs)
    strict = ACTION_FILE.replace("reviews quality gate", "no growth at all").replace(
        "reviews_not_duplicated", "reviews_do_not_grow").replace("max_row_growth_pct: 50", "max_row_growth_pct: 1")
    s3.put_object(Bucket=repo, Key="strict/_sluice_actions/strict.yaml", Body=strict.encode())
    sluice.commit(repo, "strict", "new rows, and a check of my own")
    r = sluice.api("POST", f"/repositories/{repo}/refs/strict/merge/main", {})
    assert r.status_code == 412, r.text
    assert r.json()["report"]["failed_checks"] == ["reviews_do_not_grow"]
    # Without it, the new rows pass main's gate.
    s3.delete_object(Bucket=repo, Key="strict/_sluice_actions/strict.yaml")
    sluice.commit(repo, "strict", "drop my own check")
    r = sluice.api("POST", f"/repositories/{repo}/refs/strict/merge/main", {})
    assert r.status_code == 200, r.text
    assert count(sluice, f"sluice://{repo}/main/reviews")["rows"] == 12_000


def wait_for_task(sluice, repo, source, dest, task):
    for _ in range(600):
        r = sluice.api("GET", f"/repositories/{repo}/refs/{source}/merge/{dest}/async/{task}/status")
        assert r.status_code == 200, r.text
        status = r.json()
        if status["completed"]:
            return status
        time.sleep(0.1)
    raise AssertionError(f"merge task {task} did not complete")


def test_async_merges_answer_at_once_and_report_like_the_synchronous_call(sluice, repo):
    """lakeFS's async merge shape: 202 with a task id, then a status with the result or with
    the synchronous call's status and report; `sluice merge --wait` follows it."""
    fs = filesystem(sluice)
    s3 = sluice.s3()
    pq.write_table(reviews(0, 5_000), f"{repo}/main/reviews/part-0.parquet", filesystem=fs)
    s3.put_object(Bucket=repo, Key="main/_sluice_actions/reviews_gate.yaml", Body=ACTION_FILE.encode())
    sluice.commit(repo, "main", "reviews and their gate")
    main_head = sluice.api("GET", f"/repositories/{repo}/branches/main").json()["commit_id"]

    # A duplicating merge: refused, with the report, main untouched.
    sluice.create_branch(repo, "dup")
    pq.write_table(reviews(0, 5_000), f"{repo}/dup/reviews/part-again.parquet", filesystem=fs)
    sluice.commit(repo, "dup", "append again")
    r = sluice.api("POST", f"/repositories/{repo}/refs/dup/merge/main/async", {})
    assert r.status_code == 202, r.text
    status = wait_for_task(sluice, repo, "dup", "main", r.json()["id"])
    assert status["task_id"] == r.json()["id"] and "result" not in status, status
    assert status["error"]["status_code"] == 412, status
    assert status["error"]["report"]["failed_checks"] == ["reviews_not_duplicated"]
    assert sluice.api("GET", f"/repositories/{repo}/branches/main").json()["commit_id"] == main_head
    # The CLI waits the same way and fails the same way: the report on stdout, exit 1.
    r = cli(sluice, "merge", f"sluice://{repo}/dup", f"sluice://{repo}/main", "--wait", "--json")
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "412" in r.stderr and json.loads(r.stdout)["failed_checks"] == ["reviews_not_duplicated"]

    # A merge that passes: the result names the new head.
    sluice.create_branch(repo, "new")
    pq.write_table(reviews(5_000, 1_000), f"{repo}/new/reviews/part-new.parquet", filesystem=fs)
    sluice.commit(repo, "new", "new rows")
    r = cli(sluice, "merge", f"sluice://{repo}/new", f"sluice://{repo}/main", "--wait", "--json")
    assert r.returncode == 0, r.stderr
    merged = json.loads(r.stdout)["reference"]
    assert sluice.api("GET", f"/repositories/{repo}/branches/main").json()["commit_id"] == merged
    assert count(sluice, f"sluice://{repo}/main/reviews")["rows"] == 6_000

    # Bad input is refused at once; an unknown task is 404, also under the wrong destination.
    assert sluice.api("POST", f"/repositories/{repo}/refs/nope/merge/main/async", {}).status_code == 404
    assert sluice.api("POST", f"/repositories/{repo}/refs/new/merge/nope/async", {}).status_code == 404
    bad = requests.post(f"{sluice.endpoint}/api/v1/repositories/{repo}/refs/new/merge/main/async",
                        data=b"{not json", auth=(ACCESS_KEY, SECRET_KEY), timeout=30)
    assert bad.status_code == 400 and "malformed JSON" in bad.json()["message"]
    r = sluice.api("POST", f"/repositories/{repo}/refs/new/merge/main/async", {"allow_empty": True})
    task = r.json()["id"]
    assert sluice.api("GET", f"/repositories/{repo}/refs/new/merge/dup/async/{task}/status").status_code == 404
    assert sluice.api("GET", f"/repositories/{repo}/refs/new/merge/main/async/nope/status").status_code == 404
    wait_for_task(sluice, repo, "new", "main", task)


def test_required_checks_hold_even_where_no_branch_has_an_action_file(sluice, repo, tmp_path):
    """A check an admin sets on the repository runs on every merge it names; no branch can
    delete it (it is in no branch); removing it is an admin's act."""
    fs = filesystem(sluice)
    pq.write_table(reviews(0, 5_000), f"{repo}/main/reviews/part-0.parquet", filesystem=fs)
    sluice.commit(repo, "main", "reviews, no action file anywhere")
    gate = tmp_path / "gate.yaml"
    gate.write_text(ACTION_FILE)
    r = cli(sluice, "checks", "set", f"sluice://{repo}", "no-duplicate-reviews", str(gate))
    assert r.returncode == 0, r.stderr
    listed = json.loads(cli(sluice, "checks", "list", f"sluice://{repo}", "--json").stdout)
    assert [c["name"] for c in listed["checks"]] == ["no-duplicate-reviews"]
    assert listed["checks"][0]["action"] == ACTION_FILE

    sluice.create_branch(repo, "dup")
    pq.write_table(reviews(0, 5_000), f"{repo}/dup/reviews/part-again.parquet", filesystem=fs)
    sluice.commit(repo, "dup", "append again")
    r = sluice.api("POST", f"/repositories/{repo}/refs/dup/merge/main", {})
    assert r.status_code == 412, r.text
    assert r.json()["report"]["failed_checks"] == ["reviews_not_duplicated"]
    run = sluice.api("GET", f"/repositories/{repo}/actions/runs").json()["results"][0]
    hooks = sluice.api("GET", f"/repositories/{repo}/actions/runs/{run['run_id']}/hooks").json()["results"]
    assert any(h["action"] == "reviews quality gate" for h in hooks), hooks

    # Bad definitions and names are refused; a missing check cannot be removed.
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nhooks: [not a hook]\n")
    r = cli(sluice, "checks", "set", f"sluice://{repo}", "bad", str(bad))
    assert r.returncode != 0 and "400" in r.stderr, r.stderr
    r = sluice.api("PUT", f"/repositories/{repo}/settings/required_checks/bad%20name", {"action": ACTION_FILE})
    assert r.status_code == 400, r.text
    r = cli(sluice, "checks", "rm", f"sluice://{repo}", "nope")
    assert r.returncode != 0 and "404" in r.stderr, r.stderr

    # The admin removes it; the same merge then goes through.
    assert cli(sluice, "checks", "rm", f"sluice://{repo}", "no-duplicate-reviews").returncode == 0
    assert json.loads(cli(sluice, "checks", "list", f"sluice://{repo}", "--json").stdout)["checks"] == []
    r = sluice.api("POST", f"/repositories/{repo}/refs/dup/merge/main", {})
    assert r.status_code == 200, r.text


SQL_CHECKS = """\
name: reviews rules
on:
  pre-merge:
    branches: [main]
hooks:
  - id: stars_in_range
    type: sql_check
    properties:
      query: SELECT review_id, star_rating FROM reviews WHERE star_rating < 1 OR star_rating > 5
  - id: review_id_unique
    type: sql_check
    properties:
      query: SELECT review_id, count(*) AS copies FROM reviews GROUP BY review_id HAVING count(*) > 1
  - id: one_table
    type: sql_check
    properties:
      query: SELECT count(*) AS n FROM reviews
      expect_rows: 1
"""


def test_sql_checks_judge_the_tree_the_merge_would_produce(sluice, repo):
    """`sql_check` hooks run DataFusion SQL on the merge's result before it is committed: a
    query that returns rows (or another count than expect_rows) refuses, with samples."""
    import pyarrow as pa
    import pyarrow.compute as pc

    fs = filesystem(sluice)
    s3 = sluice.s3()
    pq.write_table(reviews(0, 3_000), f"{repo}/main/reviews/part-0.parquet", filesystem=fs)
    s3.put_object(Bucket=repo, Key="main/_sluice_actions/rules.yaml", Body=SQL_CHECKS.encode())
    sluice.commit(repo, "main", "reviews and their rules")

    # Ratings out of range on the branch: refused, naming the hook, with sample rows.
    sluice.create_branch(repo, "bad-stars")
    bad = reviews(3_000, 100)
    bad = bad.set_column(bad.schema.get_field_index("star_rating"), "star_rating",
                         pc.cast(pc.add(pc.bit_wise_and(pa.array(range(100)), 1), 6), pa.int32()))
    pq.write_table(bad, f"{repo}/bad-stars/reviews/part-bad.parquet", filesystem=fs)
    sluice.commit(repo, "bad-stars", "ratings of 6 and 7")
    r = sluice.api("POST", f"/repositories/{repo}/refs/bad-stars/merge/main", {})
    assert r.status_code == 412, r.text
    report = r.json()["report"]
    assert report["failed_checks"] == ["stars_in_range"], report
    hook = next(h for h in report["hooks"] if h["hook_id"] == "stars_in_range")
    assert hook["report"]["rows"].startswith("more than") and len(hook["report"]["samples"]) == 20, hook
    assert {s["star_rating"] for s in hook["report"]["samples"]} <= {6, 7}

    # The same rows again: the merged table would repeat review ids.
    sluice.create_branch(repo, "dup")
    pq.write_table(reviews(0, 10), f"{repo}/dup/reviews/part-again.parquet", filesystem=fs)
    sluice.commit(repo, "dup", "ten rows again")
    r = sluice.api("POST", f"/repositories/{repo}/refs/dup/merge/main", {})
    assert r.status_code == 412, r.text
    report = r.json()["report"]
    assert report["failed_checks"] == ["review_id_unique"], report
    hook = next(h for h in report["hooks"] if h["hook_id"] == "review_id_unique")
    assert hook["report"]["rows"] == "10" and hook["report"]["samples"][0]["copies"] == 2, hook

    # New, valid rows pass every rule; the merged tree, not the source alone, was judged.
    sluice.create_branch(repo, "good")
    pq.write_table(reviews(3_000, 500), f"{repo}/good/reviews/part-new.parquet", filesystem=fs)
    sluice.commit(repo, "good", "new rows")
    r = sluice.api("POST", f"/repositories/{repo}/refs/good/merge/main", {})
    assert r.status_code == 200, r.text
    assert count(sluice, f"sluice://{repo}/main/reviews")["rows"] == 3_500

    # A query that cannot run refuses, and says why; an unknown property is a parse error.
    broken = SQL_CHECKS.replace("FROM reviews GROUP BY", "FROM no_such_table GROUP BY")
    sluice.create_branch(repo, "broken")
    s3.put_object(Bucket=repo, Key="broken/_sluice_actions/broken.yaml",
                  Body=broken.replace("reviews rules", "broken rules").encode())
    sluice.commit(repo, "broken", "a rule that cannot run")
    r = sluice.api("POST", f"/repositories/{repo}/refs/broken/merge/main", {})
    assert r.status_code == 412 and "review_id_unique" in r.json()["report"]["failed_checks"], r.text
    assert "could not run" in r.text
    r = sluice.api("PUT", f"/repositories/{repo}/settings/required_checks/x", {"action": SQL_CHECKS.replace(
        "expect_rows: 1", "expect_rows: 1\n      limit: 3")})
    assert r.status_code == 400 and "limit" in r.json()["message"], r.text


def test_row_diff_counts_added_removed_and_changed_rows(sluice, repo):
    """`sluice diff --rows`: rows added, removed and (with a key) changed with the columns
    that changed; repeated rows count as rows; schema changes; only differing files read."""
    import pyarrow as pa
    import pyarrow.compute as pc

    fs = filesystem(sluice)
    pq.write_table(reviews(0, 1_000), f"{repo}/main/reviews/part-0.parquet", filesystem=fs)
    pq.write_table(reviews(5_000, 200), f"{repo}/main/reviews/part-untouched.parquet", filesystem=fs)
    sluice.commit(repo, "main", "reviews")
    sluice.create_branch(repo, "dev")
    # Rewrite part-0: rows 0..9 gone, rows 10..19 with other ratings and votes.
    kept = reviews(10, 990)
    stars = pc.if_else(pc.less(pa.array(range(990)), 10), pa.scalar(1, pa.int32()), kept["star_rating"])
    votes = pc.if_else(pc.less(pa.array(range(990)), 5), pa.scalar(999, pa.int32()), kept["helpful_votes"])
    kept = kept.set_column(kept.schema.get_field_index("star_rating"), "star_rating", stars)
    kept = kept.set_column(kept.schema.get_field_index("helpful_votes"), "helpful_votes", votes)
    pq.write_table(kept, f"{repo}/dev/reviews/part-0.parquet", filesystem=fs)
    pq.write_table(reviews(1_000, 50), f"{repo}/dev/reviews/part-1.parquet", filesystem=fs)
    pq.write_table(reviews(500, 5), f"{repo}/dev/reviews/part-again.parquet", filesystem=fs)
    sluice.commit(repo, "dev", "rewrite, append, repeat")

    def diff(*flags):
        r = cli(sluice, "diff", "--rows", f"sluice://{repo}/main", f"sluice://{repo}/dev",
                "--prefix", "reviews/", "--json", *flags)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    plain = diff()
    # Without a key a changed row is a removed row and an added one; repeats are rows.
    assert (plain["rows_added"], plain["rows_removed"], plain["rows_changed"]) == (50 + 5 + 10, 20, 0), plain
    assert (plain["files_left"], plain["files_right"]) == (1, 3), plain
    assert len(plain["samples"]["added"]) == 20 and len(plain["samples"]["removed"]) == 20

    keyed = diff("--key", "review_id")
    assert (keyed["rows_added"], keyed["rows_removed"], keyed["rows_changed"]) == (55, 10, 10), keyed
    assert keyed["column_changes"] == {"star_rating": 10, "helpful_votes": 5}, keyed
    sample = next(s for s in keyed["samples"]["changed"] if s["key"] == {"review_id": "R10"})
    assert sample["changes"]["star_rating"] == {"left": 4, "right": 1}, sample
    assert sample["changes"]["helpful_votes"] == {"left": 10, "right": 999}, sample
    assert {r["review_id"] for r in keyed["samples"]["removed"]} == {f"R{i}" for i in range(10)}
    assert keyed["schema"] == {"added": [], "removed": [], "changed": []}

    # The compare report carries the same row diff of the change, beside its other figures.
    c = cli(sluice, "compare", f"sluice://{repo}/main", f"sluice://{repo}/dev", "--prefix", "reviews",
            "--key-columns", "review_id", "--rows", "--json")
    assert c.returncode == 0, c.stderr
    rows = json.loads(c.stdout)["rows"]
    assert (rows["rows_added"], rows["rows_removed"], rows["rows_changed"]) == (55, 10, 10), rows
    assert rows["column_changes"] == keyed["column_changes"]
    c = cli(sluice, "compare", f"sluice://{repo}/main", f"sluice://{repo}/dev", "--prefix", "reviews", "--rows")
    assert "65 rows added, 20 removed, 0 changed" in c.stdout, c.stdout

    # A column added on the right; the human form says it in a few lines.
    sluice.create_branch(repo, "wider")
    wider = reviews(2_000, 10).append_column("lang", pa.array(["en"] * 10))
    pq.write_table(wider, f"{repo}/wider/reviews/part-wide.parquet", filesystem=fs)
    pq.write_table(reviews(0, 990), f"{repo}/wider/reviews/part-0.parquet", filesystem=fs)
    sluice.commit(repo, "wider", "a new column")
    r = cli(sluice, "diff", "--rows", f"sluice://{repo}/main/reviews", f"sluice://{repo}/wider")
    assert r.returncode == 0, r.stderr
    assert "10 rows added, 10 removed" in r.stdout and "columns added: lang" in r.stdout, r.stdout
    r = cli(sluice, "diff", "--rows", f"sluice://{repo}/main", f"sluice://{repo}/dev", "--key", "nope", "--prefix", "reviews")
    assert r.returncode != 0 and "nope" in r.stderr, r.stderr
    r = cli(sluice, "diff", "--rows", f"sluice://{repo}/main")
    assert r.returncode != 0 and "two refs" in r.stderr, r.stderr
    r = sluice.api("GET", f"/repositories/{repo}/refs/main/diff/dev/rows?prefix=reviews/&samples=x")
    assert r.status_code == 400, r.text
