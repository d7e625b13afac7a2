//! Background work run concurrently: items of one kind (webhook streams, scheduled syncs) run
//! as tasks of their own, at most a limit of them at once, never two of one item here, and at
//! most a few of one group (one webhook endpoint) at once. The database's leases keep two
//! instances from running one item; this keeps one instance from running the same item twice
//! and a slow item from holding up the others: each holds only its own slot.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use std::time::{Duration, Instant};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// What a kind of work is doing in this process, for `/metrics`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkStats {
    /// `webhook_stream`, `scheduled_sync`.
    pub kind: &'static str,
    /// Items running now.
    pub running: usize,
    /// The most that run at once.
    pub limit: usize,
    /// Items that ended well since the process started.
    pub done: u64,
    /// Items that failed since the process started (each is tried again when due).
    pub failed: u64,
    /// The items running longest (up to five): the item and how long it has run.
    pub longest: Vec<(String, Duration)>,
}

/// How many of the items running longest [`WorkStats`] names.
const LONGEST: usize = 5;

/// The items of one kind running in this process, within their limits.
#[derive(Debug)]
pub(crate) struct Runner {
    kind: &'static str,
    limit: usize,
    done: AtomicU64,
    failed: AtomicU64,
    slots: Arc<Semaphore>,
    per_group: usize,
    groups: Mutex<HashMap<String, Arc<Semaphore>>>,
    /// The items running, with when each started and what stops it.
    running: Mutex<HashMap<String, (Instant, Option<tokio::task::AbortHandle>)>>,
    /// Set at shutdown: nothing new starts.
    stopping: std::sync::atomic::AtomicBool,
    finished: Notify,
}

/// Releases an item's key and slots when its task ends, however it ends.
struct Running {
    runner: Arc<Runner>,
    key: String,
    _slot: OwnedSemaphorePermit,
    _group: OwnedSemaphorePermit,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.runner.running.lock().expect("running lock").remove(&self.key);
        self.runner.finished.notify_waiters();
    }
}

impl Runner {
    /// A runner of `kind` items: at most `limit` at once, at most `per_group` of one group.
    pub(crate) fn new(kind: &'static str, limit: usize, per_group: usize) -> Arc<Self> {
        Arc::new(Self {
            kind,
            limit: limit.max(1),
            done: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            slots: Arc::new(Semaphore::new(limit.max(1))),
            per_group: per_group.max(1),
            groups: Mutex::new(HashMap::new()),
            running: Mutex::new(HashMap::new()),
            stopping: std::sync::atomic::AtomicBool::new(false),
            finished: Notify::new(),
        })
    }

    /// Whether every slot is taken.
    pub(crate) fn full(&self) -> bool {
        self.slots.available_permits() == 0
    }

    /// How many items run now.
    pub(crate) fn running(&self) -> usize {
        self.running.lock().expect("running lock").len()
    }

    /// What this kind of work is doing.
    pub(crate) fn stats(&self) -> WorkStats {
        let mut longest: Vec<(String, Duration)> = self
            .running
            .lock()
            .expect("running lock")
            .iter()
            .map(|(key, (started, _))| (key.clone(), started.elapsed()))
            .collect();
        longest.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        longest.truncate(LONGEST);
        WorkStats {
            kind: self.kind,
            running: self.running(),
            limit: self.limit,
            done: self.done.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            longest,
        }
    }

    /// Starts `work` (whose output says whether it went well) as a task of its own for item
    /// `key` of `group`, unless that item runs here already or no slot is free (overall or in
    /// its group); whether it started.
    pub(crate) fn try_start<F>(self: &Arc<Self>, key: String, group: &str, work: F) -> bool
    where
        F: Future<Output = bool> + Send + 'static,
    {
        if self.stopping.load(Ordering::SeqCst) {
            return false;
        }
        let Ok(slot) = self.slots.clone().try_acquire_owned() else {
            return false;
        };
        let group_slots = self
            .groups
            .lock()
            .expect("groups lock")
            .entry(group.to_owned())
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_group)))
            .clone();
        let Ok(group_slot) = group_slots.try_acquire_owned() else {
            return false;
        };
        {
            let mut running = self.running.lock().expect("running lock");
            if running.contains_key(&key) {
                return false;
            }
            running.insert(key.clone(), (Instant::now(), None));
        }
        let running = Running {
            runner: self.clone(),
            key,
            _slot: slot,
            _group: group_slot,
        };
        let key = running.key.clone();
        let task = tokio::spawn(async move {
            let ok = work.await;
            let counter = if ok {
                &running.runner.done
            } else {
                &running.runner.failed
            };
            counter.fetch_add(1, Ordering::Relaxed);
            drop(running);
        });
        // Recorded unless it ended already (its entry gone).
        if let Some((_, handle)) = self.running.lock().expect("running lock").get_mut(&key) {
            *handle = Some(task.abort_handle());
        }
        true
    }

    /// Stops starting items, gives those running `grace` to end, then stops the rest; answers
    /// how many were stopped.
    pub(crate) async fn stop(&self, grace: Duration) -> usize {
        self.stopping.store(true, Ordering::SeqCst);
        if tokio::time::timeout(grace, self.all_finished()).await.is_ok() {
            return 0;
        }
        let handles: Vec<tokio::task::AbortHandle> = self
            .running
            .lock()
            .expect("running lock")
            .values()
            .filter_map(|(_, h)| h.clone())
            .collect();
        for h in &handles {
            h.abort();
        }
        self.all_finished().await;
        tracing::warn!(
            kind = self.kind,
            stopped = handles.len(),
            "work still running at shutdown was stopped"
        );
        handles.len()
    }

    /// Waits until an item ends (a slot may be free again).
    pub(crate) async fn one_finished(&self) {
        self.finished.notified().await;
    }

    /// Waits until every item started here has ended.
    pub(crate) async fn all_finished(&self) {
        loop {
            let finished = self.finished.notified();
            tokio::pin!(finished);
            finished.as_mut().enable();
            if self.running() == 0 {
                return;
            }
            finished.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn items_run_at_once_within_their_limits_and_never_twice() {
        let runner = Runner::new("test", 3, 2);
        let gate = Arc::new(Semaphore::new(0));
        let hold = |gate: Arc<Semaphore>| async move { gate.acquire().await.is_ok() };
        assert!(runner.try_start("a1".into(), "a", hold(gate.clone())));
        assert!(
            !runner.try_start("a1".into(), "b", hold(gate.clone())),
            "the same item twice"
        );
        assert!(runner.try_start("a2".into(), "a", hold(gate.clone())));
        assert!(
            !runner.try_start("a3".into(), "a", hold(gate.clone())),
            "two of group a at most"
        );
        assert!(runner.try_start("b1".into(), "b", hold(gate.clone())));
        assert!(runner.full());
        assert!(!runner.try_start("c1".into(), "c", hold(gate.clone())), "three at most");
        assert_eq!(runner.running(), 3);
        let longest: Vec<String> = runner.stats().longest.into_iter().map(|(k, _)| k).collect();
        assert_eq!(longest, ["a1", "a2", "b1"], "the longest running first");
        gate.add_permits(3);
        runner.all_finished().await;
        assert_eq!(runner.running(), 0);
        assert!(runner.try_start("a1".into(), "a", async { false }), "free again");
        runner.all_finished().await;
        // At shutdown: what ends within the grace ends; what does not is stopped.
        assert!(runner.try_start("slow".into(), "s", std::future::pending::<bool>()));
        assert!(runner.try_start("quick".into(), "q", async { true }));
        assert_eq!(runner.stop(Duration::from_millis(50)).await, 1, "the slow one stopped");
        assert_eq!(runner.running(), 0);
        assert!(
            !runner.try_start("new".into(), "n", async { true }),
            "nothing starts once stopping"
        );
        let stats = runner.stats();
        assert_eq!((stats.running, stats.limit, stats.done, stats.failed), (0, 3, 4, 1));
    }
}
