//! Property test: random sequences of put, delete, commit, branch, merge, reset, revert and
//! fold run against the engine and against a plain in-memory model; after every step every
//! branch's full listing (with and without its uncommitted changes) and its uncommitted
//! diff must agree.
//!
//! Trees are cut into tiny ranges here (3 items on average, so several levels), so that range reuse and
//! range skipping in diff and merge are exercised on small repositories.

use std::collections::{BTreeMap, BTreeSet, HashMap};

mod common;

use proptest::prelude::*;
use sluice_meta::testing::TestStore;
use sluice_meta::{
    CommitRequest, DiffOptions, Engine, Entry, ErrorKind, MergeRequest, MergeStrategy,
    WriteCondition,
};

/// Paths with shared prefixes, so listings and ranges have structure.
const PATHS: usize = 120;
fn path(i: usize) -> String {
    format!("{}/{}/f{}", ["a", "b", "c"][i % 3], i % 7, i)
}

#[derive(Debug, Clone)]
enum Op {
    Put {
        branch: usize,
        path: usize,
    },
    Delete {
        branch: usize,
        path: usize,
    },
    Commit {
        branch: usize,
    },
    Branch {
        from: usize,
    },
    Merge {
        src: usize,
        dst: usize,
        strategy: u8,
    },
    Reset {
        branch: usize,
    },
    ResetPrefix {
        branch: usize,
        prefix: usize,
    },
    Revert {
        branch: usize,
        back: usize,
    },
    Fold {
        branch: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let b = 0..4usize;
    prop_oneof![
        6 => (b.clone(), 0..PATHS).prop_map(|(branch, path)| Op::Put { branch, path }),
        2 => (b.clone(), 0..PATHS).prop_map(|(branch, path)| Op::Delete { branch, path }),
        3 => b.clone().prop_map(|branch| Op::Commit { branch }),
        1 => b.clone().prop_map(|from| Op::Branch { from }),
        2 => (b.clone(), b.clone(), 0..3u8).prop_map(|(src, dst, strategy)| Op::Merge { src, dst, strategy }),
        1 => b.clone().prop_map(|branch| Op::Reset { branch }),
        1 => (b.clone(), 0..3usize).prop_map(|(branch, prefix)| Op::ResetPrefix { branch, prefix }),
        1 => (b.clone(), 0..2usize).prop_map(|(branch, back)| Op::Revert { branch, back }),
        2 => b.prop_map(|branch| Op::Fold { branch }),
    ]
}

type Tree = BTreeMap<String, String>;

#[derive(Default)]
struct Model {
    /// Branch name -> (head commit id, staged changes).
    branches: BTreeMap<String, (String, BTreeMap<String, Option<String>>)>,
    /// Commit id -> (tree, parents).
    commits: HashMap<String, (Tree, Vec<String>)>,
}

impl Model {
    fn names(&self) -> Vec<String> {
        self.branches.keys().cloned().collect()
    }
    fn pick(&self, i: usize) -> String {
        let names = self.names();
        names[i % names.len()].clone()
    }
    fn tree(&self, commit: &str) -> &Tree {
        &self.commits[commit].0
    }
    fn view(&self, branch: &str) -> Tree {
        let (head, staged) = &self.branches[branch];
        let mut t = self.tree(head).clone();
        apply(&mut t, staged);
        t
    }
    /// The paths where a branch's view differs from its head, and what the view holds.
    fn uncommitted(&self, branch: &str) -> BTreeMap<String, Option<String>> {
        let head = self.tree(&self.branches[branch].0);
        let view = self.view(branch);
        let mut out = BTreeMap::new();
        for (p, v) in &view {
            if head.get(p) != Some(v) {
                out.insert(p.clone(), Some(v.clone()));
            }
        }
        for p in head.keys() {
            if !view.contains_key(p) {
                out.insert(p.clone(), None);
            }
        }
        out
    }
}

fn apply(tree: &mut Tree, changes: &BTreeMap<String, Option<String>>) {
    for (p, v) in changes {
        match v {
            Some(v) => tree.insert(p.clone(), v.clone()),
            None => tree.remove(p),
        };
    }
}

/// The model's three-way merge: `Err(())` on a conflict with the fail strategy.
fn three_way(base: &Tree, src: &Tree, dst: &Tree, strategy: MergeStrategy) -> Result<Tree, ()> {
    let mut out = dst.clone();
    let paths: BTreeSet<&String> = base.keys().chain(src.keys()).collect();
    let mut conflict = false;
    for p in paths {
        let (b, s, d) = (base.get(p), src.get(p), dst.get(p));
        if b == s {
            continue;
        }
        let take_source = if d == b {
            true
        } else if d == s {
            false
        } else {
            match strategy {
                MergeStrategy::Fail => {
                    conflict = true;
                    false
                }
                MergeStrategy::SourceWins => true,
                MergeStrategy::DestWins => false,
            }
        };
        if take_source {
            match s {
                Some(v) => out.insert(p.clone(), v.clone()),
                None => out.remove(p),
            };
        }
    }
    if conflict { Err(()) } else { Ok(out) }
}

async fn listing(engine: &Engine, reference: &str) -> Tree {
    common::list_all(engine, reference, 9)
        .await
        .into_iter()
        .map(|(p, e)| (p, e.etag))
        .collect()
}

/// A branch's uncommitted diff, paged 4 at a time: path and the etag it shows now.
async fn uncommitted(engine: &Engine, branch: &str) -> BTreeMap<String, Option<String>> {
    let mut out = BTreeMap::new();
    let mut after = None;
    loop {
        let page = engine
            .diff_uncommitted(
                "repo",
                branch,
                &DiffOptions {
                    after: after.clone(),
                    limit: 4,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        for c in &page.changes {
            let prev = out.insert(c.path.clone(), c.right.as_ref().map(|e| e.etag.clone()));
            assert!(prev.is_none(), "{} listed twice", c.path);
        }
        if !page.has_more {
            return out;
        }
        after = page.changes.last().map(|c| c.path.clone());
    }
}

async fn run(ops: Vec<Op>) {
    let dir = tempfile::tempdir().unwrap();
    let kv = TestStore::from_env().open(dir.path()).await;
    let engine = Engine::builder(kv, dir.path()).with_range_size(3).build();
    engine
        .create_repository("repo", "local://repo", "main")
        .await
        .unwrap();
    let mut model = Model::default();
    let root = engine.resolve_ref("repo", "main").await.unwrap().commit;
    model.commits.insert(root.clone(), (Tree::new(), vec![]));
    model
        .branches
        .insert("main".into(), (root, BTreeMap::new()));
    let mut writes = 0u64;

    for (step, op) in ops.into_iter().enumerate() {
        match op {
            Op::Put { branch, path: p } => {
                let b = model.pick(branch);
                writes += 1;
                let value = format!("w{writes}");
                let entry = Entry::new(format!("data/{value}"), writes, value.clone());
                engine
                    .stage_entry("repo", &b, &path(p), entry, &WriteCondition::Always)
                    .await
                    .unwrap();
                model
                    .branches
                    .get_mut(&b)
                    .unwrap()
                    .1
                    .insert(path(p), Some(value));
            }
            Op::Delete { branch, path: p } => {
                let b = model.pick(branch);
                let existed = engine.delete_object("repo", &b, &path(p)).await.unwrap();
                assert_eq!(existed, model.view(&b).contains_key(&path(p)));
                if existed {
                    model.branches.get_mut(&b).unwrap().1.insert(path(p), None);
                }
            }
            Op::Commit { branch } => {
                let b = model.pick(branch);
                let (head, staged) = model.branches[&b].clone();
                let mut tree = model.tree(&head).clone();
                apply(&mut tree, &staged);
                let result = engine
                    .commit("repo", &b, CommitRequest::new("c", "t"))
                    .await;
                if tree == *model.tree(&head) {
                    assert_eq!(result.unwrap_err().kind(), ErrorKind::Invalid);
                    model.branches.get_mut(&b).unwrap().1.clear();
                } else {
                    let (id, _) = result.unwrap();
                    model.commits.insert(id.clone(), (tree, vec![head]));
                    model.branches.insert(b, (id, BTreeMap::new()));
                }
            }
            Op::Branch { from } => {
                let src = model.pick(from);
                let name = format!("b{step}");
                engine.create_branch("repo", &name, &src).await.unwrap();
                let head = model.branches[&src].0.clone();
                model.branches.insert(name, (head, BTreeMap::new()));
            }
            Op::Merge { src, dst, strategy } => {
                let (s, d) = (model.pick(src), model.pick(dst));
                let strategy = [
                    MergeStrategy::Fail,
                    MergeStrategy::SourceWins,
                    MergeStrategy::DestWins,
                ][strategy as usize];
                let result = engine
                    .merge(
                        "repo",
                        &s,
                        &d,
                        MergeRequest {
                            strategy,
                            ..Default::default()
                        },
                    )
                    .await;
                if s == d {
                    assert_eq!(result.unwrap_err().kind(), ErrorKind::Invalid);
                    continue;
                }
                let (src_head, dst_head) =
                    (model.branches[&s].0.clone(), model.branches[&d].0.clone());
                if !model.branches[&d].1.is_empty() {
                    assert_eq!(
                        result.unwrap_err().kind(),
                        ErrorKind::Conflict,
                        "dirty destination"
                    );
                    continue;
                }
                let base = engine
                    .merge_base("repo", &src_head, &dst_head)
                    .await
                    .unwrap()
                    .unwrap();
                if base == src_head {
                    assert_eq!(
                        result.unwrap_err().kind(),
                        ErrorKind::Invalid,
                        "nothing to merge"
                    );
                    continue;
                }
                match three_way(
                    model.tree(&base),
                    model.tree(&src_head),
                    model.tree(&dst_head),
                    strategy,
                ) {
                    Err(()) => assert_eq!(result.unwrap_err().kind(), ErrorKind::Conflict),
                    Ok(tree) => {
                        let (id, commit) = result.unwrap();
                        assert_eq!(commit.parents, vec![dst_head.clone(), src_head.clone()]);
                        model
                            .commits
                            .insert(id.clone(), (tree, vec![dst_head, src_head]));
                        model.branches.get_mut(&d).unwrap().0 = id;
                    }
                }
            }
            Op::Reset { branch } => {
                let b = model.pick(branch);
                engine.reset_branch("repo", &b).await.unwrap();
                model.branches.get_mut(&b).unwrap().1.clear();
            }
            Op::ResetPrefix { branch, prefix } => {
                let b = model.pick(branch);
                let prefix = ["a/", "b/1", "c/5/"][prefix];
                engine.reset_prefix("repo", &b, prefix).await.unwrap();
                model
                    .branches
                    .get_mut(&b)
                    .unwrap()
                    .1
                    .retain(|p, _| !p.starts_with(prefix));
            }
            Op::Fold { branch } => {
                // What the branch shows does not change; changes that were no-ops are gone.
                let b = model.pick(branch);
                engine.fold("repo", &b).await.unwrap();
                let effective = model.uncommitted(&b);
                model.branches.get_mut(&b).unwrap().1 = effective;
            }
            Op::Revert { branch, back } => {
                let b = model.pick(branch);
                // Walk `back` first parents in the model.
                let mut target = model.branches[&b].0.clone();
                let mut ok = true;
                for _ in 0..back {
                    match model.commits[&target].1.first() {
                        Some(p) => target = p.clone(),
                        None => ok = false,
                    }
                }
                if !ok {
                    continue;
                }
                let result = engine
                    .revert("repo", &b, &target, None, CommitRequest::new("", "t"))
                    .await;
                let parents = model.commits[&target].1.clone();
                if parents.len() != 1 {
                    assert_eq!(result.unwrap_err().kind(), ErrorKind::Invalid);
                    continue;
                }
                let (head, staged) = model.branches[&b].clone();
                if !staged.is_empty() {
                    assert_eq!(result.unwrap_err().kind(), ErrorKind::Conflict);
                    continue;
                }
                match three_way(
                    model.tree(&target),
                    model.tree(&parents[0]),
                    model.tree(&head),
                    MergeStrategy::Fail,
                ) {
                    Err(()) => assert_eq!(result.unwrap_err().kind(), ErrorKind::Conflict),
                    Ok(tree) if tree == *model.tree(&head) => {
                        assert_eq!(result.unwrap_err().kind(), ErrorKind::Invalid)
                    }
                    Ok(tree) => {
                        let (id, _) = result.unwrap();
                        model.commits.insert(id.clone(), (tree, vec![head]));
                        model.branches.get_mut(&b).unwrap().0 = id;
                    }
                }
            }
        }
        for b in model.names() {
            assert_eq!(
                listing(&engine, &b).await,
                model.view(&b),
                "branch {b} after step {step}"
            );
            assert_eq!(
                uncommitted(&engine, &b).await,
                model.uncommitted(&b),
                "uncommitted on {b} after step {step}"
            );
            let head = model.branches[&b].0.clone();
            assert_eq!(
                listing(&engine, &format!("{b}@")).await,
                *model.tree(&head),
                "committed {b} after step {step}"
            );
            assert_eq!(engine.resolve_ref("repo", &b).await.unwrap().commit, head);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]
    #[test]
    fn engine_matches_model(ops in proptest::collection::vec(op(), 1..80)) {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(run(ops));
    }
}
