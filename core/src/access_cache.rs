//! Recent access decisions kept in memory, so that a request with an API token — a prediction
//! above all — need not read PostgreSQL to learn who is calling and whether they may.
//!
//! Kept: which actor a token hash stands for, which (caller, endpoint) pairs may predict, and
//! which (caller, run) pairs may log metrics (the run's id; whether the run is still active is
//! checked by the write itself, see [`crate::metric_store::append_packed_if_active`]).
//! Only granted access is kept, for at most [`MAX_AGE`]. Anything that can take access away —
//! revoking a token, changing or removing a membership, deleting an endpoint, disabling a user —
//! makes the cache forget: at once in the process that made the change ([`access_changed`]),
//! and in every other process through `NOTIFY trellis_access`, which triggers on the tables send
//! whatever wrote them (migration `…10_access_notifications.sql`; see [`crate::serving::listen`]).
//!
//! A decision is kept with the [epoch](epoch) read before it was looked up, so one looked up
//! while access changed is never trusted.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::Actor;

/// The channel on which changes that may take access away are announced.
pub const CHANNEL: &str = "trellis_access";
/// How long a decision is trusted without being read again (a safety net: changes clear it).
pub const MAX_AGE: Duration = Duration::from_secs(60);
/// Entries per map; past this a map starts again.
const MAX_ENTRIES: usize = 10_000;

/// Counts changes that may have taken access away, in this process (across every `Core` in it:
/// a change only ever makes the others read again).
static EPOCH: AtomicU64 = AtomicU64::new(0);

/// The current epoch: read it before looking a decision up, and keep the decision with it.
pub fn epoch() -> u64 {
    EPOCH.load(Ordering::Acquire)
}

/// Marks every decision made so far as stale (called after a change that may take access away
/// commits).
pub fn access_changed() {
    EPOCH.fetch_add(1, Ordering::AcqRel);
}

struct Entry<T> {
    value: T,
    at: Instant,
    epoch: u64,
}

/// A token's actor (without the caller's address) and when the token expires.
#[derive(Clone)]
pub struct TokenEntry {
    pub actor: Actor,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Who may predict where: (token id, user id, `<project>.<endpoint>`).
type PredictKey = (Option<i64>, Option<i64>, String);

/// Who may write to which run: (token id, user id, run id as MLflow shows it).
type RunKey = (Option<i64>, Option<i64>, String);

#[derive(Default)]
pub struct AccessCache {
    tokens: RwLock<HashMap<Vec<u8>, Entry<TokenEntry>>>,
    predict: RwLock<HashMap<PredictKey, Entry<()>>>,
    runs: RwLock<HashMap<RunKey, Entry<i64>>>,
}

impl std::fmt::Debug for AccessCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessCache").finish_non_exhaustive()
    }
}

fn fresh<T>(e: &Entry<T>) -> bool {
    e.epoch == epoch() && e.at.elapsed() < MAX_AGE
}

fn insert<K: std::hash::Hash + Eq, T>(map: &RwLock<HashMap<K, Entry<T>>>, epoch: u64, key: K, value: T) {
    let mut map = map.write().unwrap_or_else(|e| e.into_inner());
    if map.len() >= MAX_ENTRIES {
        map.retain(|_, e| fresh(e));
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
    }
    map.insert(key, Entry { value, at: Instant::now(), epoch });
}

impl AccessCache {
    /// Forgets every decision.
    pub fn clear(&self) {
        access_changed();
        self.tokens.write().unwrap_or_else(|e| e.into_inner()).clear();
        self.predict.write().unwrap_or_else(|e| e.into_inner()).clear();
        self.runs.write().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// The actor a token (by its hash) stood for, while fresh and unexpired.
    pub fn token(&self, hash: &[u8]) -> Option<Actor> {
        let map = self.tokens.read().unwrap_or_else(|e| e.into_inner());
        let e = map.get(hash).filter(|e| fresh(e))?;
        if e.value.expires_at.is_some_and(|t| t <= Utc::now()) {
            return None;
        }
        Some(e.value.actor.clone())
    }

    /// Keeps what a token stands for, as looked up in `epoch`.
    pub fn remember_token(&self, epoch: u64, hash: Vec<u8>, entry: TokenEntry) {
        insert(&self.tokens, epoch, hash, entry);
    }

    fn predict_key(actor: &Actor, endpoint: &str) -> PredictKey {
        (actor.token.map(|t| t.token_id), actor.user_id, endpoint.to_string())
    }

    /// Whether the caller was recently allowed to predict on `endpoint` (`<project>.<endpoint>`).
    pub fn may_predict(&self, actor: &Actor, endpoint: &str) -> bool {
        let key = Self::predict_key(actor, endpoint);
        self.predict.read().unwrap_or_else(|e| e.into_inner()).get(&key).is_some_and(fresh)
    }

    /// Keeps that the caller may predict on `endpoint`, as decided in `epoch`.
    pub fn remember_predict(&self, epoch: u64, actor: &Actor, endpoint: &str) {
        insert(&self.predict, epoch, Self::predict_key(actor, endpoint), ());
    }

    fn run_key(actor: &Actor, run_uuid: &str) -> RunKey {
        (actor.token.map(|t| t.token_id), actor.user_id, run_uuid.to_string())
    }

    /// The id of run `run_uuid` when the caller was recently allowed to write to it.
    pub fn writable_run(&self, actor: &Actor, run_uuid: &str) -> Option<i64> {
        let key = Self::run_key(actor, run_uuid);
        self.runs.read().unwrap_or_else(|e| e.into_inner()).get(&key).filter(|e| fresh(e)).map(|e| e.value)
    }

    /// Keeps that the caller may write to run `run_uuid` (id `id`), as decided in `epoch`.
    pub fn remember_writable_run(&self, epoch: u64, actor: &Actor, run_uuid: &str, id: i64) {
        insert(&self.runs, epoch, Self::run_key(actor, run_uuid), id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actor::TokenGrant;

    fn actor(token_id: i64) -> Actor {
        Actor {
            user_id: Some(7),
            email: "a@example.org".into(),
            is_instance_admin: false,
            token: Some(TokenGrant { token_id, project_id: None, predict_only: false }),
            ip: None,
        }
    }

    #[test]
    fn decisions_are_kept_until_access_changes() {
        let cache = AccessCache::default();
        let e = epoch();
        cache.remember_token(e, vec![1], TokenEntry { actor: actor(1), expires_at: None });
        cache.remember_token(e, vec![2], TokenEntry { actor: actor(2), expires_at: Some(Utc::now() - chrono::Duration::seconds(1)) });
        assert_eq!(cache.token(&[1]).and_then(|a| a.token).map(|t| t.token_id), Some(1));
        assert!(cache.token(&[2]).is_none(), "an expired token is not trusted");
        assert!(cache.token(&[3]).is_none());
        cache.remember_predict(epoch(), &actor(1), "p.e");
        assert!(cache.may_predict(&actor(1), "p.e"));
        assert!(!cache.may_predict(&actor(2), "p.e"), "another token is another caller");
        assert!(!cache.may_predict(&actor(1), "p.other"));
        cache.remember_writable_run(epoch(), &actor(1), "abc", 42);
        assert_eq!(cache.writable_run(&actor(1), "abc"), Some(42));
        assert_eq!(cache.writable_run(&actor(2), "abc"), None, "another token is another caller");
        assert_eq!(cache.writable_run(&actor(1), "abd"), None);
        cache.clear();
        assert!(cache.token(&[1]).is_none());
        assert!(!cache.may_predict(&actor(1), "p.e"));
        assert_eq!(cache.writable_run(&actor(1), "abc"), None);

        // A decision looked up while access changed is not trusted. (One test: the epoch is
        // shared by the whole process, and tests run side by side.)
        let before = epoch();
        access_changed();
        cache.remember_token(before, vec![9], TokenEntry { actor: actor(9), expires_at: None });
        assert!(cache.token(&[9]).is_none());
        cache.remember_token(epoch(), vec![9], TokenEntry { actor: actor(9), expires_at: None });
        assert!(cache.token(&[9]).is_some());
        access_changed();
        assert!(cache.token(&[9]).is_none(), "a change elsewhere in the process makes it stale");
    }
}
