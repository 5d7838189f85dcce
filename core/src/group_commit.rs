//! Concurrent writes combined into shared statements (group commit). Writes are queued by key;
//! while `at_once` statements for a key are under way, further writes for it wait, and the next
//! free statement takes them together (up to `max_weight`). Concurrent writers then share
//! statements, round trips and commits instead of making one each. Each caller is answered once
//! its own write is committed (or refused). When a combined statement fails, each of its writes
//! is written again alone, so that each gets its own answer (one bad write does not fail the
//! others).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use sqlx::PgPool;
use tokio::sync::oneshot;

use crate::Result;

/// Whether a write was written (`true`) or refused (`false`), with the write handed back.
type Answer<T> = Result<(bool, T)>;

/// A write waiting for its statement, and where its answer goes.
struct Waiting<T> {
    item: T,
    done: oneshot::Sender<Answer<T>>,
}

/// Writes a key's writes in one statement; answers, for each write in order, whether it was
/// written (`true`) or refused by the statement's own checks, with nothing of it written
/// (`false`). An error fails the whole statement.
pub trait WriteTogether<K, T>: Send + Sync + 'static {
    fn write<'a>(&'a self, db: &'a PgPool, key: &'a K, writes: &'a [T]) -> BoxFuture<'a, Result<Vec<bool>>>;
}

/// The writes waiting for one key, and how many statements for it are under way.
struct Queue<T> {
    waiting: Vec<Waiting<T>>,
    writing: usize,
}

/// Queues of waiting writes by key, written by a [`WriteTogether`]. Cheap to clone (shared).
pub struct GroupCommit<K, T> {
    queues: Arc<Mutex<HashMap<K, Queue<T>>>>,
    /// Statements under way per key at most.
    at_once: usize,
    /// Weight of the writes one statement takes at most (it takes at least one write).
    max_weight: usize,
    weight: fn(&T) -> usize,
    write: Arc<dyn WriteTogether<K, T>>,
}

impl<K, T> Clone for GroupCommit<K, T> {
    fn clone(&self) -> Self {
        Self { queues: self.queues.clone(), at_once: self.at_once, max_weight: self.max_weight, weight: self.weight, write: self.write.clone() }
    }
}

impl<K, T> std::fmt::Debug for GroupCommit<K, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit").field("at_once", &self.at_once).field("max_weight", &self.max_weight).finish_non_exhaustive()
    }
}

impl<K: Hash + Eq + Clone + Send + Sync + 'static, T: Send + 'static> GroupCommit<K, T> {
    pub fn new(at_once: usize, max_weight: usize, weight: fn(&T) -> usize, write: impl WriteTogether<K, T>) -> Self {
        Self { queues: Default::default(), at_once, max_weight, weight, write: Arc::new(write) }
    }

    /// Queues `item` for `key` and answers, once it is written (`true`) or refused (`false`),
    /// with the item handed back.
    pub async fn submit(&self, db: &PgPool, key: K, item: T) -> Answer<T> {
        let (done, answer) = oneshot::channel();
        let start = {
            let mut queues = self.queues.lock().expect("group commit lock");
            let queue = queues.entry(key.clone()).or_insert_with(|| Queue { waiting: Vec::new(), writing: 0 });
            queue.waiting.push(Waiting { item, done });
            // Else the statements under way take this write next.
            let start = queue.writing < self.at_once;
            queue.writing += start as usize;
            start
        };
        if start {
            // On its own task, so that a caller who goes away does not strand the others.
            tokio::spawn(self.clone().drain(db.clone(), key));
        }
        answer.await.unwrap_or_else(|_| Err(crate::Error::Internal(anyhow::anyhow!("a combined write stopped"))))
    }

    /// Writes `key`'s waiting writes, a statement at a time, until none wait (one of the key's
    /// statements under way).
    async fn drain(self, db: PgPool, key: K) {
        loop {
            let batch = {
                let mut queues = self.queues.lock().expect("group commit lock");
                let Some(queue) = queues.get_mut(&key) else { return };
                if queue.waiting.is_empty() {
                    queue.writing -= 1;
                    if queue.writing == 0 {
                        queues.remove(&key);
                    }
                    return;
                }
                let mut weight = 0;
                let take = queue
                    .waiting
                    .iter()
                    .take_while(|w| {
                        weight += (self.weight)(&w.item);
                        weight <= self.max_weight
                    })
                    .count()
                    .max(1);
                queue.waiting.drain(..take).collect::<Vec<_>>()
            };
            self.write_batch(&db, &key, batch).await;
        }
    }

    /// Writes a batch in one statement and answers each write; when the statement fails, writes
    /// each alone so that each gets its own answer.
    async fn write_batch(&self, db: &PgPool, key: &K, batch: Vec<Waiting<T>>) {
        let (writes, answers): (Vec<T>, Vec<_>) = batch.into_iter().map(|w| (w.item, w.done)).unzip();
        if writes.len() > 1 {
            if let Ok(written) = self.write.write(db, key, &writes).await {
                debug_assert_eq!(written.len(), writes.len());
                for ((done, written), write) in answers.into_iter().zip(written).zip(writes) {
                    let _ = done.send(Ok((written, write)));
                }
                return;
            }
        }
        for (write, done) in writes.into_iter().zip(answers) {
            let answer = self.write.write(db, key, std::slice::from_ref(&write)).await;
            let _ = done.send(answer.map(|written| (written.first().copied().unwrap_or(false), write)));
        }
    }
}
