//! The cancellation flag of a run.

use crate::error::PluginError;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// What wakes a thread blocked on a reverse request.
pub(crate) enum Wake {
    Reply(Result<Value, PluginError>),
    Cancelled,
    Closed(String),
}

/// Set when the host sends `$/cancelRequest` for the run (or the connection closes). Cheap to poll
/// ([`is_cancelled`](Self::is_cancelled)); [`wait_timeout`](Self::wait_timeout) sleeps and wakes at once on cancel,
/// and reverse calls made for the run return `CANCELLED` as soon as it is cancelled.
#[derive(Default)]
pub struct CancelToken {
    flag: AtomicBool,
    state: Mutex<HashMap<u64, Sender<Wake>>>,
    cv: Condvar,
}

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }

    /// Cancels: sets the flag, wakes sleepers and reverse calls waiting for this run. Idempotent.
    pub fn cancel(&self) {
        let mut wakers = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if self.flag.swap(true, Ordering::AcqRel) {
            return;
        }
        for (_, tx) in wakers.drain() {
            let _ = tx.send(Wake::Cancelled);
        }
        drop(wakers);
        self.cv.notify_all();
    }

    /// Sleeps up to `dur`; returns early with `true` if (or as soon as) the token is cancelled.
    pub fn wait_timeout(&self, dur: Duration) -> bool {
        let deadline = Instant::now() + dur;
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if self.is_cancelled() {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            guard = self.cv.wait_timeout(guard, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    /// `Err(CANCELLED)` once cancelled.
    pub fn check(&self) -> Result<(), PluginError> {
        if self.is_cancelled() {
            Err(PluginError::cancelled())
        } else {
            Ok(())
        }
    }

    /// Registers a waiter to wake on cancel; false (and nothing registered) if already cancelled.
    pub(crate) fn add_waker(&self, id: u64, tx: Sender<Wake>) -> bool {
        let mut wakers = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if self.is_cancelled() {
            return false;
        }
        wakers.insert(id, tx);
        true
    }

    pub(crate) fn remove_waker(&self, id: u64) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
    }
}

impl std::fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CancelToken").field("cancelled", &self.is_cancelled()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn wait_wakes_on_cancel() {
        let t = Arc::new(CancelToken::new());
        let t2 = t.clone();
        let started = Instant::now();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            t2.cancel();
        });
        assert!(t.wait_timeout(Duration::from_secs(5)));
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(t.check().unwrap_err().is_cancelled());
    }

    #[test]
    fn wait_times_out() {
        let t = CancelToken::new();
        assert!(!t.wait_timeout(Duration::from_millis(20)));
    }
}
