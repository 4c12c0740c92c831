//! The UI's handlers over a real engine: sign-in, sessions, CSRF, escaping, and the plain
//! messages of bad input.

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use sluice_meta::{Engine, PutOptions};

use super::{Ui, handle, is_ui};
use crate::credentials::KeyPair;

struct Fixture {
    _dir: tempfile::TempDir,
    engine: Engine,
    keys: KeyPair,
    access: crate::access::Access,
    ui: Ui,
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open_embedded(dir.path()).unwrap().build();
        let keys = KeyPair {
            access_key_id: "AKUITEST".into(),
            secret_access_key: "ui-secret".into(),
        };
        let access = crate::access::Access::new(
            engine.kv().clone(),
            crate::access::SecretCipher::from_material(b"ui tests"),
            keys.clone(),
        );
        Self {
            _dir: dir,
            ui: Ui::new(engine.kv().clone()),
            engine,
            keys,
            access,
        }
    }

    async fn send(
        &self,
        method: Method,
        uri: &str,
        cookie: Option<&str>,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Answer {
        let mut b = Request::builder().method(method).uri(uri);
        if let Some(c) = cookie {
            b = b.header(http::header::COOKIE, c);
        }
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let req = b.body(Full::new(Bytes::from(body.to_string()))).unwrap();
        let resp = handle(&self.ui, &self.engine, &self.access, req).await;
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        Answer {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    async fn get(&self, uri: &str, cookie: &str) -> Answer {
        self.send(Method::GET, uri, Some(cookie), &[], "").await
    }

    async fn post(&self, uri: &str, cookie: Option<&str>, form: &str) -> Answer {
        let ct = [("content-type", "application/x-www-form-urlencoded")];
        self.send(Method::POST, uri, cookie, &ct, form).await
    }

    /// Sign in; the session cookie and its CSRF token.
    async fn sign_in(&self) -> (String, String) {
        let form = format!(
            "access_key_id={}&secret_access_key={}",
            self.keys.access_key_id, self.keys.secret_access_key
        );
        let a = self.post("/ui/login", None, &form).await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
        let set = a.headers[http::header::SET_COOKIE].to_str().unwrap();
        for attr in ["HttpOnly", "SameSite=Strict", "Path=/ui"] {
            assert!(set.contains(attr), "{set}");
        }
        let cookie = set.split(';').next().unwrap().to_string();
        let page = self.get("/ui/repositories", &cookie).await;
        assert_eq!(page.status, StatusCode::OK);
        (cookie, csrf_of(&page.body))
    }

    /// A repository `lake` with an object and a commit.
    async fn lake(&self) {
        self.engine
            .create_repository("lake", "local://lake", "main")
            .await
            .unwrap();
    }

    async fn put(&self, branch: &str, path: &str, data: &'static [u8]) {
        let body = futures::stream::once(async move { Ok(Bytes::from_static(data)) });
        self.engine
            .put_object("lake", branch, path, body, PutOptions::default())
            .await
            .unwrap();
    }
}

fn csrf_of(page: &str) -> String {
    let at = page
        .find("name=\"csrf\" value=\"")
        .expect("a form with a token")
        + 19;
    page[at..at + 64].to_string()
}

/// What a form left, shown on the page it redirected to.
async fn follow(f: &Fixture, a: &Answer, cookie: &str) -> String {
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let to = a.headers[http::header::LOCATION].to_str().unwrap();
    f.get(to, cookie).await.body
}

#[tokio::test]
async fn pages_need_a_session() {
    let f = Fixture::new();
    let a = f
        .send(Method::GET, "/ui/repositories?x=1", None, &[], "")
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(
        a.headers[http::header::LOCATION],
        "/ui/login?next=/ui/repositories%3Fx%3D1"
    );
    let a = f.get("/ui/repositories", "sluice_session=forged").await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    let a = f.post("/ui/repositories", None, "name=lake").await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(f.engine.repository("lake").await.is_err());
    let login = f.send(Method::GET, "/ui/login", None, &[], "").await;
    for words in ["Access key ID", "Secret access key", "Sign in"] {
        assert!(login.body.contains(words), "{words}");
    }
}

#[tokio::test]
async fn a_wrong_key_pair_is_said_plainly_and_sign_out_ends_the_session() {
    let f = Fixture::new();
    let a = f
        .post(
            "/ui/login",
            None,
            "access_key_id=AKUITEST&secret_access_key=wrong",
        )
        .await;
    assert!(a.headers.get(http::header::SET_COOKIE).is_none());
    assert!(a.body.contains("Wrong access key ID or secret access key"));
    let (cookie, csrf) = f.sign_in().await;
    let out = f
        .post("/ui/logout", Some(&cookie), &format!("csrf={csrf}"))
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(
        out.headers[http::header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let a = f.get("/ui/repositories", &cookie).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn forms_without_the_session_token_are_refused() {
    let f = Fixture::new();
    let (cookie, csrf) = f.sign_in().await;
    let form = "name=lake&default_branch=main";
    let a = f.post("/ui/repositories", Some(&cookie), form).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let a = f
        .post(
            "/ui/repositories",
            Some(&cookie),
            &format!("{form}&csrf={}", "0".repeat(64)),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert!(f.engine.repository("lake").await.is_err());
    // Another site's form is refused even with a token.
    let a = f
        .send(
            Method::POST,
            "/ui/repositories",
            Some(&cookie),
            &[
                ("origin", "http://evil.example"),
                ("host", "127.0.0.1:8000"),
            ],
            &format!("{form}&csrf={csrf}"),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let a = f
        .post(
            "/ui/repositories",
            Some(&cookie),
            &format!("{form}&csrf={csrf}"),
        )
        .await;
    let page = follow(&f, &a, &cookie).await;
    assert!(page.contains("Created repository lake"), "{page}");
    assert!(f.engine.repository("lake").await.is_ok());
    // The upload takes its token from a header.
    let a = f
        .send(
            Method::POST,
            "/ui/repositories/lake/upload?ref=main&path=a.txt",
            Some(&cookie),
            &[],
            "data",
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let a = f
        .send(
            Method::POST,
            "/ui/repositories/lake/upload?ref=main&path=a.txt",
            Some(&cookie),
            &[("x-csrf-token", &csrf)],
            "data",
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    assert_eq!(
        f.engine
            .stat_object("lake", "main", "a.txt")
            .await
            .unwrap()
            .size,
        4
    );
}

#[tokio::test]
async fn hostile_names_are_escaped() {
    let f = Fixture::new();
    f.lake().await;
    f.put("main", "<script>alert(1)</script>.txt", b"x").await;
    f.put("main", "dir\"><img src=x onerror=alert(2)>/y", b"y")
        .await;
    let (cookie, _) = f.sign_in().await;
    for uri in [
        "/ui/repositories/lake/objects?ref=main",
        "/ui/repositories/lake/changes?ref=main",
        "/ui/repositories/lake/objects?ref=main&path=%3Cscript%3Ealert(1)%3C/script%3E.txt",
    ] {
        let page = f.get(uri, &cookie).await;
        assert_eq!(page.status, StatusCode::OK, "{uri}: {}", page.body);
        assert!(!page.body.contains("<script>alert"), "{uri}: {}", page.body);
        assert!(!page.body.contains("<img src=x"), "{uri}");
        assert!(page.body.contains("&lt;script&gt;alert(1)&lt;/"), "{uri}");
    }
    // A hostile ref comes back escaped in the error page too.
    let page = f
        .get("/ui/repositories/lake/objects?ref=%3Cb%3Ex", &cookie)
        .await;
    assert!(!page.body.contains("<b>x"));
}

#[tokio::test]
async fn bad_input_is_shown_plainly() {
    let f = Fixture::new();
    f.lake().await;
    f.put("main", "data/a.txt", b"a").await;
    let (cookie, csrf) = f.sign_in().await;
    let commit = |msg: &str| format!("csrf={csrf}&ref=main&message={msg}");
    let a = f
        .post(
            "/ui/repositories/lake/changes/commit",
            Some(&cookie),
            &commit("first"),
        )
        .await;
    assert!(
        follow(&f, &a, &cookie)
            .await
            .contains("Committed the changes of main")
    );
    // Nothing to commit.
    let a = f
        .post(
            "/ui/repositories/lake/changes/commit",
            Some(&cookie),
            &commit("again"),
        )
        .await;
    let page = follow(&f, &a, &cookie).await;
    assert!(page.contains("class=\"flash error\""), "{page}");
    // A name that is not a valid branch.
    let a = f
        .post(
            "/ui/repositories/lake/branches/create",
            Some(&cookie),
            &format!("csrf={csrf}&name=bad%20name%7E&source=main"),
        )
        .await;
    let page = follow(&f, &a, &cookie).await;
    assert!(page.contains("class=\"flash error\""), "{page}");
    assert!(page.contains("bad name~"), "{page}");
    // An upload to a tag.
    f.engine.create_tag("lake", "v1", "main").await.unwrap();
    let a = f
        .send(
            Method::POST,
            "/ui/repositories/lake/upload?ref=v1&path=b.txt",
            Some(&cookie),
            &[("x-csrf-token", &csrf)],
            "data",
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.body.contains("is not a branch"), "{}", a.body);
    let page = f.get("/ui/repositories/lake/objects?ref=v1", &cookie).await;
    assert!(page.body.contains("is not a branch"));
    assert!(!page.body.contains("Upload Object"));
    // Every page of the repository answers.
    f.engine.create_branch("lake", "dev", "main").await.unwrap();
    for p in [
        "objects",
        "changes?ref=main",
        "commits?ref=main",
        "branches",
        "compare?ref=main&compare=dev",
        "actions",
        "objects?ref=main&path=data/a.txt",
    ] {
        let page = f.get(&format!("/ui/repositories/lake/{p}"), &cookie).await;
        assert_eq!(page.status, StatusCode::OK, "{p}: {}", page.body);
    }
}

#[test]
fn browsers_reach_the_ui_and_signed_requests_reach_s3() {
    let req = |uri: &str, auth: bool| {
        let mut b = Request::builder().uri(uri);
        if auth {
            b = b.header(http::header::AUTHORIZATION, "AWS4-HMAC-SHA256 Credential=x");
        }
        b.body(()).unwrap()
    };
    assert!(is_ui(&req("/", false)));
    assert!(!is_ui(&req("/", true)));
    assert!(!is_ui(&req("/?X-Amz-Signature=abc", false)));
    assert!(is_ui(&req("/ui/repositories", false)));
    assert!(!is_ui(&req("/ui/x", true)));
    assert!(!is_ui(&req("/lake/main/x", false)));
    assert!(!is_ui(&req("/uix", false)));
}

/// An object's details name the last commit that changed it, or say it is not committed.
#[tokio::test]
async fn object_details_name_the_last_commit_that_changed_it() {
    let f = Fixture::new();
    let (cookie, _) = f.sign_in().await;
    f.lake().await;
    f.put("main", "t/a.txt", b"one").await;
    let page = f
        .get(
            "/ui/repositories/lake/objects?ref=main&path=t/a.txt",
            &cookie,
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("not committed yet"), "{}", page.body);
    let request = sluice_meta::CommitRequest::new("first of a", "t");
    f.engine.commit("lake", "main", request).await.unwrap();
    f.put("main", "t/b.txt", b"other").await;
    let request = sluice_meta::CommitRequest::new("only b", "t");
    f.engine.commit("lake", "main", request).await.unwrap();
    let page = f
        .get(
            "/ui/repositories/lake/objects?ref=main&path=t/a.txt",
            &cookie,
        )
        .await;
    assert!(page.body.contains("first of a"), "{}", page.body);
    assert!(!page.body.contains("only b"), "{}", page.body);
}

/// Protection rules are added and removed on the Branches page, and they hold; a reset
/// drops a branch's uncommitted changes.
#[tokio::test]
async fn protection_rules_and_reset_on_the_branches_page() {
    let f = Fixture::new();
    f.lake().await;
    let (cookie, csrf) = f.sign_in().await;
    let a = f
        .post(
            "/ui/repositories/lake/branches/protect",
            Some(&cookie),
            &format!("csrf={csrf}&pattern=main"),
        )
        .await;
    let page = follow(&f, &a, &cookie).await;
    assert!(
        page.contains("Branches matching main are protected"),
        "{page}"
    );
    assert_eq!(f.engine.branch_protection("lake").await.unwrap(), ["main"]);
    let refused = f
        .engine
        .put_object(
            "lake",
            "main",
            "x",
            futures::stream::once(async { Ok(Bytes::from_static(b"x")) }),
            PutOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(refused.kind(), sluice_meta::ErrorKind::Forbidden);
    let a = f
        .post(
            "/ui/repositories/lake/branches/unprotect",
            Some(&cookie),
            &format!("csrf={csrf}&pattern=main"),
        )
        .await;
    let page = follow(&f, &a, &cookie).await;
    assert!(page.contains("No branch is protected"), "{page}");
    f.put("main", "staged.txt", b"s").await;
    let a = f
        .post(
            "/ui/repositories/lake/branches/reset",
            Some(&cookie),
            &format!("csrf={csrf}&name=main"),
        )
        .await;
    assert!(follow(&f, &a, &cookie).await.contains("Reset branch main"));
    let gone = f.engine.stat_object("lake", "main", "staged.txt").await;
    assert_eq!(gone.unwrap_err().kind(), sluice_meta::ErrorKind::NotFound);
}

/// A large file goes up in parts (the page's script for files over 8 MiB): start, parts,
/// complete; the object reads back whole. A step without the token is refused, and a bad
/// completion is a plain message.
#[tokio::test]
async fn uploads_in_parts() {
    let f = Fixture::new();
    f.lake().await;
    let (cookie, csrf) = f.sign_in().await;
    let token = [("x-csrf-token", csrf.as_str())];
    let step =
        |what: &str, query: &str| format!("/ui/repositories/lake/upload/{what}?ref=main&{query}");
    let refused = f
        .send(
            Method::POST,
            &step("start", "path=big.bin"),
            Some(&cookie),
            &[],
            "",
        )
        .await;
    assert_ne!(refused.status, StatusCode::CREATED);
    let started = f
        .send(
            Method::POST,
            &step("start", "path=big.bin"),
            Some(&cookie),
            &token,
            "",
        )
        .await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.body);
    let id = started.body.clone();
    let first = "a".repeat(5 * 1024 * 1024);
    let second = "b".repeat(1234);
    let mut etags = Vec::new();
    for (n, body) in [(1, &first), (2, &second)] {
        let part = f
            .send(
                Method::POST,
                &step("part", &format!("upload={id}&n={n}")),
                Some(&cookie),
                &token,
                body,
            )
            .await;
        assert_eq!(part.status, StatusCode::OK, "{}", part.body);
        etags.push(format!("{n} {}", part.body));
    }
    let bad = f
        .send(
            Method::POST,
            &step("complete", &format!("upload={id}")),
            Some(&cookie),
            &token,
            "x",
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("NUMBER ETAG"), "{}", bad.body);
    let done = f
        .send(
            Method::POST,
            &step("complete", &format!("upload={id}")),
            Some(&cookie),
            &token,
            &etags.join("\n"),
        )
        .await;
    assert_eq!(done.status, StatusCode::CREATED, "{}", done.body);
    assert!(done.body.contains("in 2 parts"), "{}", done.body);
    let entry = f
        .engine
        .stat_object("lake", "main", "big.bin")
        .await
        .unwrap();
    assert_eq!(entry.size, (first.len() + second.len()) as u64);
    // An upload to a tag is refused before anything is stored.
    f.engine.create_tag("lake", "v1", "main").await.unwrap();
    let to_tag = f
        .send(
            Method::POST,
            "/ui/repositories/lake/upload/start?ref=v1&path=x",
            Some(&cookie),
            &token,
            "",
        )
        .await;
    assert_eq!(to_tag.status, StatusCode::BAD_REQUEST);
    assert!(to_tag.body.contains("not a branch"), "{}", to_tag.body);
}

/// A branch is reset to an older commit on the Branches page, and one folder's changes are
/// reset on Uncommitted Changes, leaving the others.
#[tokio::test]
async fn reset_to_a_commit_and_reset_one_folder() {
    let f = Fixture::new();
    f.lake().await;
    let (cookie, csrf) = f.sign_in().await;
    f.put("main", "a.txt", b"a").await;
    let request = sluice_meta::CommitRequest::new("first", "t");
    let (first, _) = f.engine.commit("lake", "main", request).await.unwrap();
    f.put("main", "b.txt", b"b").await;
    let request = sluice_meta::CommitRequest::new("second", "t");
    f.engine.commit("lake", "main", request).await.unwrap();
    let a = f
        .post(
            "/ui/repositories/lake/branches/reset",
            Some(&cookie),
            &format!("csrf={csrf}&name=main&to={first}"),
        )
        .await;
    assert!(
        follow(&f, &a, &cookie)
            .await
            .contains("Reset branch main to")
    );
    assert_eq!(f.engine.branch("lake", "main").await.unwrap().head, first);
    f.put("main", "one/x.txt", b"x").await;
    f.put("main", "two/y.txt", b"y").await;
    let changes = f
        .get("/ui/repositories/lake/changes?ref=main", &cookie)
        .await;
    assert!(changes.body.contains("Reset folder"), "{}", changes.body);
    let a = f
        .post(
            "/ui/repositories/lake/changes/reset",
            Some(&cookie),
            &format!("csrf={csrf}&ref=main&path=one/"),
        )
        .await;
    let page = follow(&f, &a, &cookie).await;
    assert!(page.contains("Reset one/"), "{page}");
    assert!(
        f.engine
            .stat_object("lake", "main", "one/x.txt")
            .await
            .is_err()
    );
    assert!(
        f.engine
            .stat_object("lake", "main", "two/y.txt")
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn merges_run_in_the_background_and_a_slow_one_has_a_progress_page() {
    use crate::api::MergeAsyncError;
    use crate::merge_tasks::MergeTask;
    use sluice_meta::kv::KvExt;

    let f = Fixture::new();
    f.lake().await;
    let (cookie, csrf) = f.sign_in().await;
    f.put("main", "a.txt", b"a").await;
    let request = sluice_meta::CommitRequest::new("first", "t");
    f.engine.commit("lake", "main", request).await.unwrap();
    f.engine.create_branch("lake", "dev", "main").await.unwrap();
    f.put("dev", "b.txt", b"b").await;
    let request = sluice_meta::CommitRequest::new("second", "t");
    f.engine.commit("lake", "dev", request).await.unwrap();

    // A quick merge is answered on the compare page, as a synchronous one was.
    let a = f
        .post(
            "/ui/repositories/lake/merge",
            Some(&cookie),
            &format!("csrf={csrf}&ref=main&compare=dev"),
        )
        .await;
    let page = follow(&f, &a, &cookie).await;
    assert!(page.contains("Merged dev into main"), "{page}");
    assert!(f.engine.stat_object("lake", "main", "b.txt").await.is_ok());

    // A merge still running: its page reloads itself and says what runs.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let mut task = MergeTask {
        source: "dev".into(),
        destination: "main".into(),
        completed: false,
        update_ms: now,
        result: None,
        error: None,
    };
    let store = |task: &MergeTask| {
        let bytes = serde_json::to_vec(task).unwrap();
        let kv = f.engine.kv().clone();
        async move { kv.put(b"v/lake/t1", &bytes).await.unwrap() }
    };
    store(&task).await;
    let running = f.get("/ui/repositories/lake/merges/t1", &cookie).await;
    assert_eq!(running.status, StatusCode::OK);
    assert!(
        running.body.contains("http-equiv=\"refresh\""),
        "{}",
        running.body
    );
    assert!(running.body.contains("are running"), "{}", running.body);

    // Once refused, the page leads back to the comparison with the refusal and its report.
    task.completed = true;
    task.error = Some(MergeAsyncError {
        status_code: 412,
        message: "pre-merge check no_dupes failed".into(),
        conflicts: None,
        report: Some(serde_json::json!({"failed_checks": ["no_dupes"]})),
    });
    store(&task).await;
    let done = f.get("/ui/repositories/lake/merges/t1", &cookie).await;
    let page = follow(&f, &done, &cookie).await;
    assert!(
        page.contains("The merge of dev into main was refused: pre-merge check no_dupes failed"),
        "{page}"
    );
    assert_eq!(
        f.get("/ui/repositories/lake/merges/nope", &cookie)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}
