//! Runs recently read, kept in memory by id and revision.
//!
//! A run's revision rises in the same transaction as any change to what the run shows (triggers,
//! migration `…14_run_revisions.sql`), so a run read together with its revision stays exactly
//! that while the revision stays. A search then reads only the ids and revisions of its page
//! and loads just the runs it does not hold at those revisions; in another process, or after a
//! change, the revisions differ and the runs are read again. Nothing here is trusted without a
//! revision read from the database in the same request.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::{Arc, OnceLock, RwLock};

use crate::tracking::Run;

/// A run as read at one revision, with its JSON as the API renders it, made at most once.
pub struct KeptRun {
    run: Run,
    json: OnceLock<Box<[u8]>>,
}

impl KeptRun {
    pub fn new(run: Run) -> Self {
        KeptRun { run, json: OnceLock::new() }
    }

    /// The run's JSON: `render`'s result at the first call, the same bytes after (a run's JSON
    /// depends on nothing but the run).
    pub fn json(&self, render: impl FnOnce(&Run) -> Vec<u8>) -> &[u8] {
        self.json.get_or_init(|| render(&self.run).into_boxed_slice())
    }
}

impl Deref for KeptRun {
    type Target = Run;
    fn deref(&self) -> &Run {
        &self.run
    }
}

/// Bytes the kept runs may take, about (each run and its JSON); past this the map starts again.
const MAX_BYTES: usize = 64 << 20;

/// About how many bytes `run` takes in memory with its JSON (twice its text, plus overheads).
fn approximate_size(run: &Run) -> usize {
    let pairs = |kv: &[(String, String)]| kv.iter().map(|(k, v)| 96 + 2 * (k.len() + v.len())).sum::<usize>();
    let datasets: usize = run.links.datasets.iter().map(|d| 512 + 2 * (d.source.len() + d.schema.len() + d.profile.len())).sum();
    512 + 2 * (run.run_uuid.len() + run.name.len() + run.user_name.len())
        + run.metrics.iter().map(|m| 128 + 2 * m.key.len()).sum::<usize>()
        + pairs(&run.params)
        + pairs(&run.tags)
        + datasets
        + 128 * (run.links.model_inputs.len() + run.links.model_outputs.len())
}

struct Kept {
    runs: HashMap<i64, (i64, Arc<KeptRun>, usize)>,
    bytes: usize,
}

pub struct RunCache {
    kept: RwLock<Kept>,
    max_bytes: usize,
}

impl Default for RunCache {
    fn default() -> Self {
        Self::with_budget(MAX_BYTES)
    }
}

impl std::fmt::Debug for RunCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunCache").field("runs", &self.len()).finish()
    }
}

impl RunCache {
    /// A cache that keeps runs of about `max_bytes` in all.
    pub fn with_budget(max_bytes: usize) -> Self {
        RunCache { kept: RwLock::new(Kept { runs: HashMap::new(), bytes: 0 }), max_bytes }
    }

    /// Run `id` as it was at `revision`, if kept.
    pub fn get(&self, id: i64, revision: i64) -> Option<Arc<KeptRun>> {
        let kept = self.kept.read().expect("run cache lock");
        kept.runs.get(&id).filter(|(r, _, _)| *r == revision).map(|(_, run, _)| run.clone())
    }

    /// Keeps run `id` as read at `revision` (a later revision already kept stays).
    pub fn put(&self, id: i64, revision: i64, run: Arc<KeptRun>) {
        let size = approximate_size(&run);
        let mut kept = self.kept.write().expect("run cache lock");
        if let Some((newer, _, _)) = kept.runs.get(&id) {
            if *newer > revision {
                return;
            }
        }
        if let Some((_, _, old)) = kept.runs.remove(&id) {
            kept.bytes -= old;
        }
        if kept.bytes + size > self.max_bytes {
            kept.runs.clear();
            kept.bytes = 0;
        }
        if size <= self.max_bytes {
            kept.runs.insert(id, (revision, run, size));
            kept.bytes += size;
        }
    }

    /// Runs kept.
    pub fn len(&self) -> usize {
        self.kept.read().expect("run cache lock").runs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// About how many bytes the kept runs take.
    pub fn bytes(&self) -> usize {
        self.kept.read().expect("run cache lock").bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(name: &str, params: usize) -> Arc<KeptRun> {
        Arc::new(KeptRun::new(Run {
            run_uuid: format!("{name:0>32}"),
            experiment_id: 1,
            name: name.into(),
            user_name: "ada".into(),
            status: "RUNNING".into(),
            start_time: 0,
            end_time: None,
            lifecycle_stage: "active".into(),
            metrics: Vec::new(),
            params: (0..params).map(|i| (format!("p{i}"), "x".repeat(100))).collect(),
            tags: Vec::new(),
            links: Default::default(),
        }))
    }

    #[test]
    fn a_run_is_found_at_the_revision_it_was_kept_at_and_no_other() {
        let cache = RunCache::default();
        cache.put(1, 3, run("a", 0));
        assert_eq!(cache.get(1, 3).unwrap().name, "a");
        assert!(cache.get(1, 2).is_none() && cache.get(1, 4).is_none() && cache.get(2, 3).is_none());
        // An older read does not replace a newer one; a newer one does.
        cache.put(1, 2, run("old", 0));
        assert_eq!(cache.get(1, 3).unwrap().name, "a");
        cache.put(1, 5, run("new", 0));
        assert_eq!(cache.get(1, 5).unwrap().name, "new");
        assert!(cache.get(1, 3).is_none());
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn the_kept_runs_stay_within_their_budget() {
        let one = approximate_size(&run("a", 10));
        let cache = RunCache::with_budget(one * 3);
        for id in 0..10 {
            cache.put(id, 0, run("a", 10));
            assert!(cache.bytes() <= one * 3, "{} bytes kept", cache.bytes());
            assert!(cache.get(id, 0).is_some(), "the run just kept is there");
        }
        assert!(cache.len() <= 3);
        // Replacing a run counts it once.
        let cache = RunCache::with_budget(one * 3);
        cache.put(7, 0, run("a", 10));
        cache.put(7, 1, run("a", 10));
        assert_eq!(cache.bytes(), one);
        // A run larger than the whole budget is not kept.
        let small = RunCache::with_budget(100);
        small.put(1, 0, run("a", 10));
        assert!(small.is_empty());
    }

    #[test]
    fn a_kept_run_renders_its_json_once() {
        let kept = run("a", 0);
        let mut calls = 0;
        let first = kept.json(|r| {
            calls += 1;
            r.name.as_bytes().to_vec()
        })
        .to_vec();
        let again = kept.json(|_| unreachable!("rendered already")).to_vec();
        assert_eq!((first, again, calls), (b"a".to_vec(), b"a".to_vec(), 1));
    }
}
