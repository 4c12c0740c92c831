//! Every operation of the REST API and of the S3 API, tried with a key whose user has no
//! policy (each must be refused, in the protocol's own form) and with the admin's (none
//! refused), so that no operation is open by mistake and none is closed to the admin. The
//! REST routes come from the route table itself: a new route is in this matrix at once.

mod common;

use base64::Engine as _;
use common::{ACCESS_KEY, REPO, Request, SECRET_KEY, Server, basic_auth};

/// The routes any signed-in user may call: who they are, the server's configuration, and
/// the list of repositories (filtered to what the user may read).
const ANY_SIGNED_IN: &[(&str, &str)] = &[
    ("GET", "/config"),
    ("GET", "/config/version"),
    ("GET", "/config/storage"),
    ("GET", "/user"),
    ("GET", "/repositories"),
];

/// A concrete path for a route pattern.
fn fill(pattern: &str, commit: &str) -> String {
    pattern
        .split('/')
        .map(|seg| match seg {
            "{repo}" => REPO.to_string(),
            "{branch}" | "{dest}" | "{right}" => "dev".to_string(),
            "{ref}" | "{left}" | "{source}" => "main".to_string(),
            "{commit}" => commit.to_string(),
            "{tag}" => "v1".to_string(),
            // Not the caller: the admin's pass deletes what it names.
            "{user}" => "victim".to_string(),
            "{group}" => "Admins".to_string(),
            "{policy}" => "FSReadAll".to_string(),
            "{key}" => "AKIAJNOSUCHKEY00000Q".to_string(),
            s if s.starts_with('{') => "x".to_string(),
            s => s.to_string(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// A body the route would accept from someone allowed, so that the refusal is about rights.
fn body(method: &str, pattern: &str) -> String {
    let rest = pattern
        .strip_prefix("/repositories/{repo}")
        .unwrap_or(pattern);
    match (method, rest) {
        ("POST", "/repositories") => {
            r#"{"name":"other","storage_namespace":"local://other"}"#.into()
        }
        ("POST", "/branches") => r#"{"name":"dev-2","source":"main"}"#.into(),
        ("POST", "/tags") => r#"{"id":"v2","ref":"main"}"#.into(),
        ("POST", "/branches/{branch}/objects/delete") => r#"{"paths":["a"]}"#.into(),
        ("POST", "/branches/{branch}/objects/copy") => r#"{"src_path":"a"}"#.into(),
        ("POST", "/auth/users") => r#"{"id":"made"}"#.into(),
        ("POST", "/auth/groups") => r#"{"id":"made"}"#.into(),
        ("POST", "/auth/policies") | ("PUT", "/auth/policies/{policy}") => {
            r#"{"id":"FSReadAll","statement":[{"effect":"allow","action":["fs:*"],"resource":"*"}]}"#
                .into()
        }
        ("POST", "/refs/{ref}/sql") => r#"{"query":"select 1"}"#.into(),
        ("POST", "/branches/{branch}/commits") => r#"{"message":"m"}"#.into(),
        _ => "{}".into(),
    }
}

async fn seeded() -> (Server, String, (String, String)) {
    let s = Server::start().await;
    assert_eq!(s.put("main/a", b"a").await.status, 200);
    let (commit, _) = s
        .engine
        .commit(
            REPO,
            "main",
            sluice_meta::CommitRequest::new("seed", "tester"),
        )
        .await
        .unwrap();
    s.engine.create_branch(REPO, "dev", "main").await.unwrap();
    s.engine.create_tag(REPO, "v1", "main").await.unwrap();
    let d = s.access.directory();
    d.create_user("nobody", None, None).await.unwrap();
    d.create_user("victim", None, None).await.unwrap();
    let k = d.create_credentials("nobody").await.unwrap();
    (s, commit, (k.access_key_id, k.secret_access_key))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rest_operation_refuses_a_user_without_rights_and_serves_the_admin() {
    let (s, commit, (key, secret)) = seeded().await;
    let mut refused = 0;
    for (method, pattern) in sluice_gateway::rest::operations() {
        let path = format!("/api/v1{}", fill(pattern, &commit));
        for (who, auth) in [
            ("nobody", basic_auth(&key, &secret)),
            ("admin", basic_auth(ACCESS_KEY, SECRET_KEY)),
        ] {
            let req = Request::new(&s.addr.to_string(), method, &path)
                .query("path", "a")
                .query("dest_path", "b")
                .header("authorization", &auth)
                .header("content-type", "application/json")
                .body(body(method, pattern));
            let r = s.send(&req).await;
            let open = ANY_SIGNED_IN.contains(&(method, pattern));
            if who == "nobody" && !open {
                assert_eq!(
                    r.status,
                    401,
                    "{method} {pattern} let a user without rights through: {}",
                    r.text()
                );
                if method != "HEAD" {
                    assert!(
                        r.text().contains("insufficient permissions"),
                        "{method} {pattern}: {}",
                        r.text()
                    );
                }
                refused += 1;
            } else {
                assert_ne!(r.status, 401, "{who}: {method} {pattern}: {}", r.text());
            }
        }
    }
    assert!(refused >= 80, "only {refused} operations checked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_s3_operation_refuses_a_user_without_rights_and_serves_the_admin() {
    let (s, _, (key, secret)) = seeded().await;
    let upload = {
        let r = s
            .send(&s.request("POST", "main/mp").query("uploads", "").signed())
            .await;
        common::xml_value(&r.text(), "UploadId").expect("upload id")
    };
    let delete_xml = "<Delete><Object><Key>main/a</Key></Object></Delete>";
    let md5 = base64::engine::general_purpose::STANDARD
        .encode(hex::decode(common::md5_hex(delete_xml.as_bytes())).unwrap());
    let host = s.addr.to_string();
    let bucket = |method: &str| Request::new(&host, method, &format!("/{REPO}"));
    let ops: Vec<(&str, Request)> = vec![
        ("HeadBucket", bucket("HEAD")),
        ("GetBucketLocation", bucket("GET").query("location", "")),
        ("GetBucketVersioning", bucket("GET").query("versioning", "")),
        ("ListObjects", bucket("GET")),
        ("ListObjectsV2", bucket("GET").query("list-type", "2")),
        ("ListObjectVersions", bucket("GET").query("versions", "")),
        ("ListMultipartUploads", bucket("GET").query("uploads", "")),
        ("DeleteBucket", bucket("DELETE")),
        ("CreateBucket", Request::new(&host, "PUT", "/another")),
        ("HeadObject", s.request("HEAD", "main/a")),
        ("GetObject", s.request("GET", "main/a")),
        (
            "GetObjectAttributes",
            s.request("GET", "main/a")
                .query("attributes", "")
                .header("x-amz-object-attributes", "ETag"),
        ),
        ("PutObject", s.request("PUT", "main/b").body(b"b".to_vec())),
        (
            "CopyObject",
            s.request("PUT", "main/c")
                .header("x-amz-copy-source", &format!("/{REPO}/main/a")),
        ),
        ("DeleteObject", s.request("DELETE", "main/a")),
        (
            "DeleteObjects",
            bucket("POST")
                .query("delete", "")
                .header("content-md5", &md5)
                .body(delete_xml.as_bytes().to_vec()),
        ),
        (
            "CreateMultipartUpload",
            s.request("POST", "main/mp2").query("uploads", ""),
        ),
        (
            "UploadPart",
            s.request("PUT", "main/mp")
                .query("partNumber", "1")
                .query("uploadId", &upload)
                .body(b"part".to_vec()),
        ),
        (
            "UploadPartCopy",
            s.request("PUT", "main/mp")
                .query("partNumber", "2")
                .query("uploadId", &upload)
                .header("x-amz-copy-source", &format!("/{REPO}/main/a")),
        ),
        (
            "ListParts",
            s.request("GET", "main/mp").query("uploadId", &upload),
        ),
        (
            "CompleteMultipartUpload",
            s.request("POST", "main/mp")
                .query("uploadId", &upload)
                .body(b"<CompleteMultipartUpload></CompleteMultipartUpload>".to_vec()),
        ),
        (
            "AbortMultipartUpload",
            s.request("DELETE", "main/mp").query("uploadId", &upload),
        ),
    ];
    for (name, req) in &ops {
        let r = s.send(&req.clone().signed_by(&key, &secret).signed()).await;
        assert_eq!(
            r.status,
            403,
            "{name} let a user without rights through: {}",
            r.text()
        );
        if req.method != "HEAD" {
            assert_eq!(
                r.code().as_deref(),
                Some("AccessDenied"),
                "{name}: {}",
                r.text()
            );
        }
    }
    // Nothing the refusals touched changed; then the admin is served.
    assert_eq!(s.get("main/a").await.body, b"a");
    for (name, req) in ops.iter().filter(|(n, _)| *n != "DeleteBucket") {
        let r = s.send(&req.signed()).await;
        assert_ne!(r.status, 403, "admin: {name}: {}", r.text());
    }
    // The listing of buckets is open to every signer, and shows what each may read.
    let mine = s
        .send(
            &Request::new(&host, "GET", "/")
                .signed_by(&key, &secret)
                .signed(),
        )
        .await;
    assert_eq!(mine.status, 200);
    assert!(
        !mine.text().contains(&format!("<Name>{REPO}</Name>")),
        "{}",
        mine.text()
    );
    let admins = s.send(&Request::new(&host, "GET", "/").signed()).await;
    assert!(admins.text().contains(&format!("<Name>{REPO}</Name>")));
}
