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

/// Runs kept at most; past this the map starts again.
const MAX_RUNS: usize = 50_000;

#[derive(Default)]
pub struct RunCache {
    runs: RwLock<HashMap<i64, (i64, Arc<KeptRun>)>>,
}

impl std::fmt::Debug for RunCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunCache")
            .field("runs", &self.len())
            .finish()
    }
}

impl RunCache {
    /// Run `id` as it was at `revision`, if kept.
    pub fn get(&self, id: i64, revision: i64) -> Option<Arc<KeptRun>> {
        let runs = self.runs.read().expect("run cache lock");
        runs.get(&id)
            .filter(|(r, _)| *r == revision)
            .map(|(_, run)| run.clone())
    }

    /// Keeps run `id` as read at `revision` (a later revision already kept stays).
    pub fn put(&self, id: i64, revision: i64, run: Arc<KeptRun>) {
        let mut runs = self.runs.write().expect("run cache lock");
        if runs.len() >= MAX_RUNS && !runs.contains_key(&id) {
            runs.clear();
        }
        match runs.get(&id) {
            Some((kept, _)) if *kept > revision => {}
            _ => {
                runs.insert(id, (revision, run));
            }
        }
    }

    pub fn len(&self) -> usize {
        self.runs.read().expect("run cache lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
