//! Folds: a branch's staged changes moved into a tree of their own, without a commit. What
//! the branch shows, its uncommitted diff, its next commit and what GC keeps never change
//! with a fold, whoever writes, commits or collects meanwhile.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use common::{commit, engine, list_all, put, read_path};
use sluice_meta::kv::{Kv, WriteBatch};
use sluice_meta::testing::TestStore;
use sluice_meta::{
    ChangeKind, CommitRequest, DiffOptions, Engine, Entry, ErrorKind, FOLD_AFTER, GcOptions,
    ListOptions, ListPage, ManualClock, MergeRequest, PutOptions,
};

async fn uncommitted(engine: &Engine, branch: &str) -> Vec<(String, ChangeKind)> {
    engine
        .diff_uncommitted("repo", branch, &DiffOptions::default())
        .await
        .unwrap()
        .changes
        .into_iter()
        .map(|c| (c.path, c.kind))
        .collect()
}

/// The first `limit` keys of `main`.
async fn first_page(engine: &Engine, limit: usize) -> ListPage {
    let options = ListOptions {
        limit,
        ..Default::default()
    };
    engine.list_objects("repo", "main", &options).await.unwrap()
}

fn paths(listed: &[(String, Entry)]) -> Vec<&str> {
    listed.iter().map(|(p, _)| p.as_str()).collect()
}

#[tokio::test]
async fn folded_changes_read_diff_and_commit_as_staged_ones() {
    let (e, _dir) = engine().await;
    for i in 0..40 {
        put(&e, "main", &format!("t/{i:02}"), &format!("v{i}")).await;
    }
    let first = commit(&e, "main", "forty").await;
    e.create_branch("repo", "dev", "main").await.unwrap();
    for i in 10..30 {
        assert!(
            e.delete_object("repo", "dev", &format!("t/{i:02}"))
                .await
                .unwrap()
        );
    }
    put(&e, "dev", "t/05", "changed").await;
    put(&e, "dev", "u/new", "added").await;
    let shown = list_all(&e, "dev", 7).await;
    let diff = uncommitted(&e, "dev").await;
    assert_eq!(diff.len(), 22);

    assert_eq!(e.folded_tree("repo", "dev").await.unwrap(), None);
    assert!(e.fold("repo", "dev").await.unwrap());
    assert!(e.folded_tree("repo", "dev").await.unwrap().is_some());
    assert!(
        !e.fold("repo", "dev").await.unwrap(),
        "nothing staged to fold"
    );
    assert_eq!(list_all(&e, "dev", 7).await, shown);
    assert_eq!(uncommitted(&e, "dev").await, diff);
    assert_eq!(read_path(&e, "dev", "t/05").await, b"changed");
    let gone = e.stat_object("repo", "dev", "t/12").await.unwrap_err();
    assert_eq!(gone.kind(), ErrorKind::NotFound);
    assert_eq!(
        read_path(&e, "dev@", "t/12").await,
        b"v12",
        "committed state"
    );
    // Deleting a folded deletion finds nothing; restoring a folded one is staged over it.
    assert!(!e.delete_object("repo", "dev", "t/12").await.unwrap());
    put(&e, "dev", "t/12", "back").await;
    let diff: BTreeMap<_, _> = uncommitted(&e, "dev").await.into_iter().collect();
    assert_eq!(diff.get("t/12"), Some(&ChangeKind::Changed));
    assert_eq!(diff.get("t/13"), Some(&ChangeKind::Removed));
    assert_eq!(diff.len(), 22);
    // A dirty branch, folded or not, refuses a merge into it.
    let refused = e
        .merge("repo", "main", "dev", MergeRequest::default())
        .await
        .unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Conflict);

    // The commit takes the folded and the staged changes, and leaves nothing folded.
    let shown = list_all(&e, "dev", 7).await;
    let (id, made) = e
        .commit("repo", "dev", CommitRequest::new("fold", "tester"))
        .await
        .unwrap();
    assert_eq!(made.parents, vec![first]);
    assert_eq!(e.folded_tree("repo", "dev").await.unwrap(), None);
    assert_eq!(list_all(&e, &id, 7).await, shown);
    assert!(uncommitted(&e, "dev").await.is_empty());
    let clean = e
        .commit("repo", "dev", CommitRequest::new("again", "tester"))
        .await
        .unwrap_err();
    assert_eq!(clean.kind(), ErrorKind::Invalid, "nothing left to commit");
}

#[tokio::test]
async fn resets_drop_folded_changes() {
    let (e, _dir) = engine().await;
    for p in ["a/1", "a/2", "b/1"] {
        put(&e, "main", p, "committed").await;
    }
    commit(&e, "main", "three").await;
    assert!(e.delete_object("repo", "main", "a/1").await.unwrap());
    put(&e, "main", "b/2", "new").await;
    e.fold("repo", "main").await.unwrap();
    e.reset_prefix("repo", "main", "a/").await.unwrap();
    assert_eq!(
        uncommitted(&e, "main").await,
        vec![("b/2".to_string(), ChangeKind::Added)]
    );
    e.reset_branch("repo", "main").await.unwrap();
    assert!(uncommitted(&e, "main").await.is_empty());
    assert_eq!(e.folded_tree("repo", "main").await.unwrap(), None);
    assert_eq!(
        paths(&list_all(&e, "main", 10).await),
        ["a/1", "a/2", "b/1"]
    );
}

/// Deletions in bulk, as a Spark overwrite makes them, fold in the background; so does
/// a block of hidden paths met by a listing, whoever staged them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_deletions_and_long_listings_start_a_fold() {
    let dir = tempfile::tempdir().unwrap();
    let kv = TestStore::from_env().open(dir.path()).await;
    let open = || Engine::builder(kv.clone(), dir.path().join("storage")).build();
    let (a, b) = (open(), open());
    a.create_repository("repo", "local://repo", "main")
        .await
        .unwrap();
    let n = FOLD_AFTER as usize * 2;
    let entries: Vec<(String, Option<Entry>)> = (0..n)
        .map(|i| {
            let path = format!("part-{i:06}");
            (path.clone(), Some(Entry::new(format!("data/{i}"), 1, "e")))
        })
        .collect();
    a.stage_entries("repo", "main", entries.clone())
        .await
        .unwrap();
    commit(&a, "main", "table").await;

    // Two sidecars each stage fewer deletions than start a fold.
    let deletions = |range: std::ops::Range<usize>| -> Vec<(String, Option<Entry>)> {
        entries[range]
            .iter()
            .map(|(p, _)| (p.clone(), None))
            .collect()
    };
    let half = FOLD_AFTER as usize * 3 / 4;
    a.stage_entries("repo", "main", deletions(0..half))
        .await
        .unwrap();
    b.stage_entries("repo", "main", deletions(half..2 * half))
        .await
        .unwrap();
    a.folds_settled().await;
    b.folds_settled().await;
    assert_eq!(a.folded_tree("repo", "main").await.unwrap(), None);
    // A listing that steps over them all starts one.
    let page = first_page(&b, 3).await;
    let first = format!("part-{:06}", 2 * half);
    assert_eq!(page.items[0].key(), first);
    b.folds_settled().await;
    assert!(a.folded_tree("repo", "main").await.unwrap().is_some());
    let again = first_page(&a, 3).await;
    assert_eq!(again, page);

    // Staging FOLD_AFTER deletions through one sidecar folds them.
    let folded = a.folded_tree("repo", "main").await.unwrap();
    a.stage_entries("repo", "main", deletions(2 * half..n))
        .await
        .unwrap();
    a.folds_settled().await;
    let now = a.folded_tree("repo", "main").await.unwrap();
    assert!(now.is_some() && now != folded, "a second fold");
    let rest = a
        .list_objects("repo", "main", &ListOptions::default())
        .await
        .unwrap();
    assert!(rest.items.is_empty() && !rest.has_more);
    assert_eq!(
        a.diff_uncommitted(
            "repo",
            "main",
            &DiffOptions {
                limit: n,
                ..Default::default()
            }
        )
        .await
        .unwrap()
        .changes
        .len(),
        n
    );
}

/// Batches of deletions that arrive while a background fold runs are folded after it: none
/// is left staged once the folds settle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletions_during_a_background_fold_are_folded_after_it() {
    let (e, _dir) = engine().await;
    let n = FOLD_AFTER as usize;
    let entries: Vec<(String, Option<Entry>)> = (0..4 * n)
        .map(|i| {
            (
                format!("k{i:06}"),
                Some(Entry::new(format!("data/{i}"), 1, "e")),
            )
        })
        .collect();
    e.stage_entries("repo", "main", entries.clone())
        .await
        .unwrap();
    commit(&e, "main", "all").await;
    for batch in entries.chunks(n).take(3) {
        let deletions = batch.iter().map(|(p, _)| (p.clone(), None)).collect();
        e.stage_entries("repo", "main", deletions).await.unwrap();
    }
    e.folds_settled().await;
    assert!(
        !e.fold("repo", "main").await.unwrap(),
        "nothing left staged"
    );
    let page = first_page(&e, 1).await;
    assert_eq!(page.items[0].key(), format!("k{:06}", 3 * n));
}

type Hook = Box<dyn FnOnce() -> futures::future::BoxFuture<'static, ()> + Send>;

/// A store that runs a hook once, at a read of a staging area after it is armed (the
/// first, or a later one): before the read, or after it. The hook acts through another
/// engine (a fold, a reset), so that the read meets the branch changed halfway.
struct HookAtStagingRead {
    inner: Arc<dyn Kv>,
    /// The hook, whether it runs after the read, and how many reads to let by first.
    hook: tokio::sync::Mutex<Option<(Hook, bool, usize)>>,
}

impl HookAtStagingRead {
    async fn arm(&self, after_read: bool, skip: usize, hook: Hook) {
        *self.hook.lock().await = Some((hook, after_read, skip));
    }
    async fn run(&self, key: &[u8], after: bool) {
        if !key.starts_with(b"s/") {
            return;
        }
        let mut slot = self.hook.lock().await;
        let Some((_, when, skip)) = slot.as_mut() else {
            return;
        };
        if *when != after {
            return;
        }
        if *skip > 0 {
            *skip -= 1;
            return;
        }
        let (hook, _, _) = slot.take().unwrap();
        drop(slot);
        hook().await;
    }
    async fn fired(&self) -> bool {
        self.hook.lock().await.is_none()
    }
}

#[async_trait::async_trait]
impl Kv for HookAtStagingRead {
    async fn get(&self, key: &[u8]) -> sluice_meta::Result<Option<Vec<u8>>> {
        self.run(key, false).await;
        let value = self.inner.get(key).await;
        self.run(key, true).await;
        value
    }
    async fn scan(
        &self,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> sluice_meta::Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.run(start, false).await;
        let rows = self.inner.scan(start, end, limit).await;
        self.run(start, true).await;
        rows
    }
    async fn write(&self, batch: WriteBatch) -> sluice_meta::Result<()> {
        self.inner.write(batch).await
    }
}

/// Two engines over one store, the first through a [`HookAtStagingRead`].
async fn hooked_pair() -> (Engine, Engine, Arc<HookAtStagingRead>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let raw = TestStore::from_env().open(dir.path()).await;
    let hooked = Arc::new(HookAtStagingRead {
        inner: raw.clone(),
        hook: tokio::sync::Mutex::new(None),
    });
    let first = Engine::builder(hooked.clone(), dir.path().join("storage")).build();
    let second = Engine::builder(raw, dir.path().join("storage")).build();
    second
        .create_repository("repo", "local://repo", "main")
        .await
        .unwrap();
    (first, second, hooked, dir)
}

fn fold_hook(engine: &Engine) -> Hook {
    let engine = engine.clone();
    Box::new(move || Box::pin(async move { assert!(engine.fold("repo", "main").await.unwrap()) }))
}

/// A read that resolved the branch before a fold and looks into its staging area after
/// the fold emptied it sees the folded tree instead, never the older state: stat, delete,
/// listing and the uncommitted diff.
#[tokio::test]
async fn reads_that_meet_a_fold_halfway_read_again() {
    let (reader, folder, hooked, _dir) = hooked_pair().await;
    put(&folder, "main", "old", "committed").await;
    commit(&folder, "main", "one").await;

    put(&folder, "main", "new", "staged").await;
    hooked.arm(false, 0, fold_hook(&folder)).await;
    assert_eq!(read_path(&reader, "main", "new").await, b"staged");

    put(&folder, "main", "listed", "staged").await;
    hooked.arm(false, 0, fold_hook(&folder)).await;
    assert_eq!(
        paths(&list_all(&reader, "main", 10).await),
        ["listed", "new", "old"]
    );

    put(&folder, "main", "diffed", "staged").await;
    hooked.arm(false, 0, fold_hook(&folder)).await;
    assert_eq!(uncommitted(&reader, "main").await.len(), 3);

    put(&folder, "main", "deleted", "staged").await;
    hooked.arm(false, 0, fold_hook(&folder)).await;
    assert!(
        reader
            .delete_object("repo", "main", "deleted")
            .await
            .unwrap()
    );
    let gone = folder
        .stat_object("repo", "main", "deleted")
        .await
        .unwrap_err();
    assert_eq!(gone.kind(), ErrorKind::NotFound);
    assert!(hooked.fired().await);
}

/// A reset under a prefix while a fold has read the staging area but not yet landed: the
/// fold gives way, and what the reset dropped stays dropped.
#[tokio::test]
async fn a_reset_beside_a_fold_in_flight_stays_reset() {
    let (folder, resetter, hooked, _dir) = hooked_pair().await;
    put(&resetter, "main", "keep/a", "committed").await;
    commit(&resetter, "main", "one").await;
    put(&resetter, "main", "drop/b", "staged").await;
    put(&resetter, "main", "keep/c", "staged").await;
    let engine = resetter.clone();
    let reset: Hook = Box::new(move || {
        Box::pin(async move { engine.reset_prefix("repo", "main", "drop/").await.unwrap() })
    });
    // The fold reads the staging area twice: whether it holds anything, then to build.
    hooked.arm(true, 1, reset).await;
    assert!(
        !folder.fold("repo", "main").await.unwrap(),
        "the fold gave way"
    );
    assert!(hooked.fired().await);
    assert_eq!(
        paths(&list_all(&resetter, "main", 10).await),
        ["keep/a", "keep/c"]
    );
    let (id, _) = resetter
        .commit("repo", "main", CommitRequest::new("after", "tester"))
        .await
        .unwrap();
    assert_eq!(
        paths(&list_all(&resetter, &id, 10).await),
        ["keep/a", "keep/c"]
    );
}

/// Writers never stop while the branch folds over and over: every acknowledged write
/// shows, and the last commit holds them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writes_racing_folds_are_never_lost() {
    let (e, _dir) = engine().await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let folder = {
        let (e, stop) = (e.clone(), stop.clone());
        tokio::spawn(async move {
            let mut folds = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                folds += u32::from(e.fold("repo", "main").await.unwrap());
                tokio::task::yield_now().await;
            }
            folds
        })
    };
    let mut writers = Vec::new();
    for w in 0..4 {
        let e = e.clone();
        writers.push(tokio::spawn(async move {
            for i in 0..80 {
                let path = format!("w{w}/{i:03}");
                e.put_bytes("repo", "main", &path, path.clone(), PutOptions::default())
                    .await
                    .unwrap();
                if i % 3 == 2 {
                    let gone = format!("w{w}/{:03}", i - 1);
                    assert!(e.delete_object("repo", "main", &gone).await.unwrap());
                }
                if w == 0 && i % 20 == 19 {
                    commit(&e, "main", "meanwhile").await;
                }
                // Let the folder in between (writes to the in-memory store are quick).
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(folder.await.unwrap() > 0, "some folds took place");
    let expected: Vec<String> = (0..4)
        .flat_map(|w| {
            (0..80)
                .filter(|i| !(i % 3 == 1 && *i < 79))
                .map(move |i| format!("w{w}/{i:03}"))
        })
        .collect();
    let shown = list_all(&e, "main", 50).await;
    assert_eq!(paths(&shown), expected);
    for (p, entry) in &shown {
        assert_eq!(common::read(&e, entry).await, *p);
    }
    // Writer 0's last commit may have taken everything already.
    if let Err(e) = e
        .commit("repo", "main", CommitRequest::new("all", "tester"))
        .await
    {
        assert_eq!(e.kind(), ErrorKind::Invalid, "{e}");
    }
    assert_eq!(list_all(&e, "main@", 50).await, shown);
}

/// Objects staged long ago move from staging areas into trees (folds, then commits) while
/// GC marks over and over with a grace period they are all past: none may go. Before GC
/// read the branches again after marking, a move between its reading a branch and its
/// scanning that branch's staging area hid the objects from it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gc_racing_folds_and_commits_keeps_old_staged_objects() {
    let dir = tempfile::tempdir().unwrap();
    let kv = TestStore::from_env().open(dir.path()).await;
    let clock = ManualClock::new(1_700_000_000_000);
    let e = Engine::builder(kv, dir.path().join("storage"))
        .with_clock(Arc::new(clock.clone()))
        .build();
    e.create_repository("repo", "local://repo", "main")
        .await
        .unwrap();
    let branches: Vec<String> = (0..24).map(|b| format!("b{b}")).collect();
    for b in &branches {
        e.create_branch("repo", b, "main").await.unwrap();
        for i in 0..12 {
            let path = format!("{b}/{i}");
            e.put_bytes("repo", b, &path, path.clone(), PutOptions::default())
                .await
                .unwrap();
        }
    }
    // Every object is now two hours old; the grace period is one.
    clock.advance_ms(2 * 3600 * 1000);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let gc = {
        let (e, stop) = (e.clone(), stop.clone());
        tokio::spawn(async move {
            let options = GcOptions {
                grace: Duration::from_secs(3600),
                dry_run: false,
            };
            let mut deleted = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                deleted += e.collect_garbage("repo", &options).await.unwrap().deleted;
            }
            deleted
        })
    };
    for b in &branches {
        e.fold("repo", b).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1)).await;
        commit(&e, b, "old objects").await;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(gc.await.unwrap(), 0, "GC deleted a reachable object");
    for b in &branches {
        for i in 0..12 {
            let path = format!("{b}/{i}");
            assert_eq!(read_path(&e, b, &path).await, path.as_bytes());
        }
    }
}
