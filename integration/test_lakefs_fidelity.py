"""Sluice's OpenAPI document against lakeFS's published API, as the `lakefs-sdk` package (generated
from lakeFS's own OpenAPI document) carries it. Every operation Sluice documents under a lakeFS
operation id must be that operation: the same method and path, the same success status, query
parameters lakeFS knows, and request and response fields with lakeFS's names (lakeFS's required
fields all present). Operations that are Sluice's own say so (`x-sluice-extension`). Then every
documented read is called through the SDK itself against a repository with branches, tags,
commits, a pre-merge run and an import, so the SDK's own models validate each answer.
`docs/lakefs-compatibility.md` must list every lakeFS operation, and say implemented for
exactly the ones the document claims."""

import importlib
import pkgutil
import re
import time
from pathlib import Path

import lakefs_sdk
import lakefs_sdk.api
import pytest

from conftest import ACCESS_KEY, SECRET_KEY, Sluice
from reviews import NO_DUPES_GATE, id_parquet as parquet

pytestmark = pytest.mark.client("lakefs sdk")

ROOT = Path(__file__).resolve().parent.parent


def snake(name: str) -> str:
    """lakeFS's operation id as the SDK names its method (getLakeFSVersion -> get_lake_fs_version)."""
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s).lower()


def sdk_operations() -> dict:
    """Every operation of lakeFS's API: method, path, statuses and their models, query
    parameters and the body's model, read from the generated SDK's source."""
    ops = {}
    for module in pkgutil.iter_modules(lakefs_sdk.api.__path__):
        mod = importlib.import_module(f"lakefs_sdk.api.{module.name}")
        source = Path(mod.__file__).read_text()
        for m in re.finditer(r"def (\w+)_with_http_info\(self(.*?)call_api\(\s*'([^']+)', '(\w+)'", source, re.S):
            name, body, path, method = m.groups()
            statuses = dict(re.findall(r"'(\d{3})': (?:\"([^\"]+)\"|None)", body.split("_response_types_map")[-1]))
            ops[name] = {
                "api": module.name,
                "class": "".join(p.title() for p in module.name.split("_")),
                "method": method,
                "path": path,
                "statuses": statuses,
                "query": set(re.findall(r"_query_params\.append\(\('(\w+)'", body)),
                "body": (re.findall(r"_body_params = _params\['(\w+)'\]", body) or [None])[0],
            }
    return ops


SDK = sdk_operations()


def model_fields(name: str):
    """A model's fields as lakeFS names them on the wire: {json name: (required, inner model)}."""
    cls = getattr(lakefs_sdk.models, name, None)
    if cls is None or not hasattr(cls, "__fields__"):
        return None
    out = {}
    for field in cls.__fields__.values():
        inner = getattr(field.type_, "__name__", "")
        out[field.alias] = (field.required, inner if hasattr(lakefs_sdk.models, inner) else None)
    return out


def resolve(doc, schema):
    ref = schema.get("$ref")
    if ref:
        return ref.rsplit("/", 1)[1], doc["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return None, schema


def compare_schema(doc, schema, model: str, at: str, problems: list, seen=None):
    """Our schema's fields against lakeFS's model: ours known to lakeFS, lakeFS's required in ours."""
    seen = seen or set()
    if model in seen:
        return
    seen = seen | {model}
    _, schema = resolve(doc, schema)
    if schema.get("type") == "array":
        _, schema = resolve(doc, schema.get("items", {}))
    fields = model_fields(model)
    props = schema.get("properties")
    if fields is None or props is None:
        return
    for name in props:
        if name not in fields and not props[name].get("x-sluice-extension"):
            problems.append(f"{at}: field {name!r} is not in lakeFS's {model}")
    for name, (required, inner) in fields.items():
        if required and name not in props:
            problems.append(f"{at}: lakeFS's {model} requires {name!r}, which Sluice's document lacks")
        if inner and name in props:
            compare_schema(doc, props[name], inner, f"{at}.{name}", problems, seen)


def test_every_claimed_operation_is_lakefs_s_operation(sluice):
    doc = sluice.api("GET", "/openapi.json").json()
    problems, claimed = [], []
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            op_id = op["operationId"]
            where = f"{method.upper()} {path} ({op_id})"
            if op.get("x-sluice-extension"):
                assert snake(op_id) not in SDK, f"{where} is marked as Sluice's own, but lakeFS has {op_id}"
                continue
            lake = SDK.get(snake(op_id))
            if lake is None:
                problems.append(f"{where}: lakeFS has no such operation; mark it x-sluice-extension")
                continue
            claimed.append(op_id)
            if (lake["method"], lake["path"]) != (method.upper(), path):
                problems.append(f"{where}: lakeFS has {lake['method']} {lake['path']}")
            ours_ok = {c for c in op["responses"] if c.startswith("2")}
            lakes_ok = {c for c in lake["statuses"] if c.startswith("2")}
            if not lakes_ok:
                # The SDK lists no status for an answer without a body (lakeFS's 201 or 204).
                bodyless = {"200"} if method == "head" else {"201", "204"}
                if any(op["responses"][c].get("content") for c in ours_ok) or not ours_ok <= bodyless:
                    problems.append(f"{where}: lakeFS answers without a body, Sluice with {sorted(ours_ok)}")
            elif ours_ok != lakes_ok:
                problems.append(f"{where}: success {sorted(ours_ok)}, lakeFS answers {sorted(lakes_ok)}")
            for q in op.get("parameters", []):
                if q["in"] == "query" and q["name"] not in lake["query"]:
                    problems.append(f"{where}: query parameter {q['name']!r} is not lakeFS's")
            for code in ours_ok & lakes_ok:
                model = lake["statuses"].get(code) or ""
                model = re.sub(r"^List\[(\w+)\]$", r"\1", model)
                content = op["responses"][code].get("content", {})
                schema = next(iter(content.values()), {}).get("schema")
                if model and schema:
                    compare_schema(doc, schema, model, f"{where} {code}", problems)
            body = op.get("requestBody", {}).get("content", {})
            schema = body.get("application/json", {}).get("schema")
            if schema and lake["body"]:
                model = "".join(p.title() for p in lake["body"].split("_"))
                compare_schema(doc, schema, model, f"{where} body", problems)
    assert not problems, "\n".join(problems)
    assert len(claimed) >= 50, claimed


def test_the_compatibility_table_lists_every_operation(sluice):
    doc = sluice.api("GET", "/openapi.json").json()
    claimed = {snake(op["operationId"]) for methods in doc["paths"].values() for op in methods.values()
               if not op.get("x-sluice-extension")}
    table = (ROOT / "docs" / "lakefs-compatibility.md").read_text()
    rows = dict(re.findall(r"^\| `(\w+)` \| [^|]+\| (yes|no)\b", table, re.M))
    rows = {snake(k): v for k, v in rows.items()}
    assert set(rows) == set(SDK), f"missing: {sorted(set(SDK) - set(rows))}; unknown: {sorted(set(rows) - set(SDK))}"
    said_yes = {k for k, v in rows.items() if v == "yes"}
    assert said_yes == claimed, f"table says yes but not documented: {sorted(said_yes - claimed)}; " \
                                f"documented but table says no: {sorted(claimed - said_yes)}"


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    return tmp_path_factory.mktemp("fidelity-lake")


@pytest.fixture(scope="module")
def importer(lake, tmp_path_factory):
    """A sidecar of its own whose config allows imports from `lake`."""
    base = tmp_path_factory.mktemp("fidelity")
    config = base / "sluice.toml"
    config.write_text(f'[storage]\nimport_roots = ["{lake}"]\n')
    side = Sluice(str(base / "data"))
    side.extra_args = ["--config", str(config)]
    side.start()
    yield side
    side.stop()


def test_every_documented_read_answers_what_the_sdk_expects(importer, lake):
    """Each GET the document claims, called through the SDK: its models check every field."""
    import lakefs
    from lakefs.client import Client

    sluice = importer

    high = Client(host=sluice.endpoint, username=ACCESS_KEY, password=SECRET_KEY)
    name = "fidelity-reads"
    repo = lakefs.Repository(name, client=high).create(storage_namespace=f"local://{name}")
    main = repo.branch("main")
    main.object("t/part-0.parquet").upload(data=parquet(range(10)))
    main.object("_sluice_actions/gate.yaml").upload(data=NO_DUPES_GATE)
    first = main.commit(message="table and gate").get_commit().id
    dev = repo.branch("dev").create(source_reference="main")
    dev.object("t/part-1.parquet").upload(data=parquet(range(10)))
    dev.commit(message="dup")
    refused = sluice.api("POST", f"/repositories/{name}/refs/dev/merge/main", {})
    assert refused.status_code == 412, refused.text
    repo.tag("v1").create(main)
    sluice.api("POST", f"/repositories/{name}/branch_protection", {"pattern": "release-*"})
    sluice.api("POST", f"/repositories/{name}/metadata", {"metadata": {"team": "a"}})
    main.object("pending.txt").upload(data=b"staged")

    sdk = lakefs_sdk.ApiClient(lakefs_sdk.Configuration(
        host=f"{sluice.endpoint}/api/v1", username=ACCESS_KEY, password=SECRET_KEY))
    lakefs_sdk.RepositoriesApi(sdk).set_gc_rules(name, lakefs_sdk.GarbageCollectionRules(
        default_retention_days=7, branches=[lakefs_sdk.GarbageCollectionRule(branch_id="main", retention_days=30)]))
    runs = lakefs_sdk.ActionsApi(sdk).list_repository_runs(name).results
    run_id = runs[0].run_id
    hook_run_id = lakefs_sdk.ActionsApi(sdk).list_run_hooks(name, run_id).results[0].hook_run_id
    # An import to dev, through the SDK, for importStatus.
    (lake / "imported").mkdir()
    (lake / "imported" / "a.csv").write_bytes(b"id\n1\n")
    import_id = lakefs_sdk.ImportApi(sdk).import_start(name, "dev", lakefs_sdk.ImportCreation(
        paths=[lakefs_sdk.ImportLocation(type="common_prefix", path=f"file://{lake}/imported/",
                                         destination="imported/")],
        commit=lakefs_sdk.CommitCreation(message="import"))).id
    for _ in range(100):
        status = lakefs_sdk.ImportApi(sdk).import_status(name, "dev", import_id)
        if status.completed or status.error:
            break
        time.sleep(0.1)
    assert status.completed and status.ingested_objects == 1, status
    admin_key = lakefs_sdk.AuthApi(sdk).create_credentials(ACCESS_KEY).access_key_id
    args = {
        "user_id": ACCESS_KEY, "group_id": "Admins", "policy_id": "FSFullAccess", "access_key_id": admin_key,
        "repository": name, "branch": "main", "ref": "main", "commit_id": first, "tag": "v1",
        "left_ref": "main", "right_ref": "dev", "source_ref": "dev", "destination_branch": "main",
        "run_id": run_id, "hook_run_id": hook_run_id, "path": "t/part-0.parquet",
    }
    doc = sluice.api("GET", "/openapi.json").json()
    called = []
    for path, methods in doc["paths"].items():
        op = methods.get("get")
        if not op or op.get("x-sluice-extension"):
            continue
        method = snake(op["operationId"])
        lake = SDK[method]
        api = getattr(lakefs_sdk, lake["class"])(sdk)
        kwargs = {snake(p): args[snake(p)] for p in re.findall(r"{(\w+)}", lake["path"])}
        if "path" in lake["query"]:
            kwargs["path"] = args["path"]
        if method == "import_status":
            kwargs.update(branch="dev", id=import_id)
        answer = getattr(api, method + "_with_http_info")(**kwargs)
        expected = {c for c in lake["statuses"] if c.startswith("2")} or {"201", "204"}
        assert str(answer.status_code) in expected, (method, answer.status_code)
        called.append(method)
    assert len(called) >= 35, called



def test_writes_honour_lakefs_s_overrides(sluice):
    """Fields lakeFS clients send are honoured, not dropped: a commit's `date`, a revert's
    `commit_overrides`."""
    import lakefs
    from lakefs.client import Client

    high = Client(host=sluice.endpoint, username=ACCESS_KEY, password=SECRET_KEY)
    name = "fidelity-writes"
    repo = lakefs.Repository(name, client=high).create(storage_namespace=f"local://{name}")
    repo.branch("main").object("a").upload(data=b"a")
    sdk = lakefs_sdk.ApiClient(lakefs_sdk.Configuration(
        host=f"{sluice.endpoint}/api/v1", username=ACCESS_KEY, password=SECRET_KEY))
    commits = lakefs_sdk.CommitsApi(sdk)
    dated = commits.commit(name, "main", lakefs_sdk.CommitCreation(message="dated", date=1_700_000_000))
    assert dated.creation_date == 1_700_000_000
    assert commits.get_commit(name, dated.id).creation_date == 1_700_000_000
    lakefs_sdk.BranchesApi(sdk).revert_branch(name, "main", lakefs_sdk.RevertCreation(
        ref=dated.id, parent_number=0,
        commit_overrides=lakefs_sdk.CommitOverrides(message="undo a", metadata={"why": "test"})))
    head = lakefs_sdk.RefsApi(sdk).log_commits(name, "main", amount=1).results[0]
    assert head.message == "undo a" and head.metadata == {"why": "test"}, head

    # A squash merge has one parent; what Sluice does not offer is refused, not ignored.
    lakefs_sdk.BranchesApi(sdk).create_branch(name, lakefs_sdk.BranchCreation(name="feature", source="main"))
    repo.branch("feature").object("b").upload(data=b"b")
    commits.commit(name, "feature", lakefs_sdk.CommitCreation(message="b"))
    merged = lakefs_sdk.RefsApi(sdk).merge_into_branch(name, "feature", "main", merge=lakefs_sdk.Merge(squash_merge=True))
    assert commits.get_commit(name, merged.reference).parents == [head.id]
    with pytest.raises(lakefs_sdk.exceptions.BadRequestException):
        lakefs_sdk.RepositoriesApi(sdk).create_repository(lakefs_sdk.RepositoryCreation(
            name="fidelity-sample", storage_namespace="local://fidelity-sample", sample_data=True))
