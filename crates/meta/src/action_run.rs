//! Records of pre-merge action runs, kept like lakeFS keeps action runs: one JSON document
//! per run, listed newest first. The engine stores them; what a run holds is the hook's
//! business (sluice-query's gate writes them).

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::keys;
use crate::kv::KvExt;
use crate::page::{Page, PageRequest, scan_page};

/// Which runs a listing answers with: those of a branch, of a commit, or both.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunFilter {
    /// Only runs of merges into this branch.
    pub branch: Option<String>,
    /// Only runs for this commit.
    pub commit: Option<String>,
}

impl RunFilter {
    fn is_empty(&self) -> bool {
        self.branch.is_none() && self.commit.is_none()
    }

    /// A run record matches when its `branch` and `commit_id` fields equal the filter's.
    fn matches(&self, run: &serde_json::Value) -> bool {
        let field = |name: &str, want: &Option<String>| {
            want.as_deref()
                .is_none_or(|w| run.get(name).and_then(|v| v.as_str()) == Some(w))
        };
        field("branch", &self.branch) && field("commit_id", &self.commit)
    }
}

impl Engine {
    /// A new run id: ids sort newest first (the time part counts down), and two runs in the
    /// same millisecond still differ.
    pub fn new_action_run_id(&self) -> String {
        let countdown = (i64::MAX - self.now_ms()) as u64;
        format!("{countdown:016x}{:08x}", fastrand::u32(..))
    }

    /// Store (or replace) the record of run `id` of `repo`.
    pub async fn record_action_run(
        &self,
        repo: &str,
        id: &str,
        record: &serde_json::Value,
    ) -> Result<()> {
        check_run_id(id)?;
        let repo = self.repository(repo).await?;
        let bytes = serde_json::to_vec(record)
            .map_err(|e| Error::invalid(format!("action run record: {e}")))?;
        self.inner
            .kv
            .put(&keys::action_run(&repo.instance, id), &bytes)
            .await
    }

    /// The record of run `id` of `repo`.
    pub async fn action_run(&self, repo: &str, id: &str) -> Result<serde_json::Value> {
        check_run_id(id)?;
        let repo = self.repository(repo).await?;
        let bytes = self
            .inner
            .kv
            .get(&keys::action_run(&repo.instance, id))
            .await?
            .ok_or_else(|| Error::not_found(format!("action run {id:?}")))?;
        decode_run(&bytes)
    }

    /// A page of the runs of `repo`, newest first, with `filter` applied while scanning (a
    /// page is never short while matching runs remain). The request's prefix is of run ids.
    pub async fn list_action_runs(
        &self,
        repo: &str,
        request: &PageRequest,
        filter: &RunFilter,
    ) -> Result<Page<(String, serde_json::Value)>> {
        let repo = self.repository(repo).await?;
        let request = PageRequest {
            limit: request.limit.clamp(1, 1000),
            ..request.clone()
        };
        let page = scan_page(
            self.inner.kv.as_ref(),
            &keys::action_run_prefix(&repo.instance),
            &request,
            |_, value| Ok(filter.is_empty() || filter.matches(&decode_run(value)?)),
        )
        .await?;
        let mut items = Vec::with_capacity(page.items.len());
        for (id, value) in page.items {
            items.push((id, decode_run(&value)?));
        }
        Ok(Page {
            items,
            has_more: page.has_more,
        })
    }
}

fn check_run_id(id: &str) -> Result<()> {
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(Error::invalid(format!("invalid action run id {id:?}")));
    }
    Ok(())
}

fn decode_run(bytes: &[u8]) -> Result<serde_json::Value> {
    serde_json::from_slice(bytes).map_err(|e| Error::corrupt(format!("action run record: {e}")))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::clock::ManualClock;
    use crate::engine::Engine;
    use crate::kv::memory::MemoryKv;
    use crate::{PageRequest, RunFilter};

    #[tokio::test]
    async fn runs_list_newest_first_and_page() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(1_000);
        let engine = Engine::builder(Arc::new(MemoryKv::default()), dir.path())
            .with_clock(Arc::new(clock.clone()))
            .build();
        engine
            .create_repository("runs", "local://runs", "main")
            .await
            .unwrap();
        let mut ids = Vec::new();
        for n in 0..5 {
            clock.advance_ms(10);
            let id = engine.new_action_run_id();
            engine
                .record_action_run("runs", &id, &serde_json::json!({ "n": n }))
                .await
                .unwrap();
            ids.push(id);
        }
        let none = RunFilter::default();
        let page = engine
            .list_action_runs("runs", &PageRequest::first(3), &none)
            .await
            .unwrap();
        assert!(page.has_more);
        let ns: Vec<i64> = page
            .items
            .iter()
            .map(|(_, v)| v["n"].as_i64().unwrap())
            .collect();
        assert_eq!(ns, vec![4, 3, 2]);
        let next = PageRequest::first(3).with_after(Some(page.items[2].0.clone()));
        let rest = engine.list_action_runs("runs", &next, &none).await.unwrap();
        assert!(!rest.has_more);
        assert_eq!(rest.items.len(), 2);
        assert_eq!(engine.action_run("runs", &ids[0]).await.unwrap()["n"], 0);
        assert!(engine.action_run("runs", "nope").await.is_err());
        assert!(engine.action_run("runs", "../x").await.is_err());
    }
}
