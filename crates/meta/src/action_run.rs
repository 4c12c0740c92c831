//! Records of pre-merge action runs, kept like lakeFS keeps action runs: one JSON document
//! per run, listed newest first. The engine stores them; what a run holds is the hook's
//! business (sluice-query's gate writes them).

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::keys;
use crate::kv::{KvExt, prefix_end};

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

    /// Up to `limit` runs of `repo`, newest first, after run id `after` (paging).
    pub async fn list_action_runs(
        &self,
        repo: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<(String, serde_json::Value)>, bool)> {
        let repo = self.repository(repo).await?;
        let prefix = keys::action_run_prefix(&repo.instance);
        let start = match after {
            Some(id) => {
                let mut k = keys::action_run(&repo.instance, id);
                k.push(0);
                k
            }
            None => prefix.clone(),
        };
        let limit = limit.clamp(1, 1000);
        let rows = self
            .inner
            .kv
            .scan(&start, &prefix_end(&prefix), limit + 1)
            .await?;
        let has_more = rows.len() > limit;
        let mut runs = Vec::with_capacity(limit);
        for (key, value) in rows.into_iter().take(limit) {
            let id = String::from_utf8_lossy(&key[prefix.len()..]).into_owned();
            runs.push((id, decode_run(&value)?));
        }
        Ok((runs, has_more))
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
        let (page, more) = engine.list_action_runs("runs", None, 3).await.unwrap();
        assert!(more);
        let ns: Vec<i64> = page.iter().map(|(_, v)| v["n"].as_i64().unwrap()).collect();
        assert_eq!(ns, vec![4, 3, 2]);
        let (rest, more) = engine
            .list_action_runs("runs", Some(&page[2].0), 3)
            .await
            .unwrap();
        assert!(!more);
        assert_eq!(rest.len(), 2);
        assert_eq!(engine.action_run("runs", &ids[0]).await.unwrap()["n"], 0);
        assert!(engine.action_run("runs", "nope").await.is_err());
        assert!(engine.action_run("runs", "../x").await.is_err());
    }
}
