//! Worker threads for handlers: started on demand, reused, bounded.
//!
//! A job goes to an idle worker if there is one; otherwise a new worker starts (so a handler that blocks never
//! holds up the others), up to `max` workers; beyond that, jobs wait in a queue for the next free worker.
//! Workers idle for [`IDLE_EXIT`] end, so a burst does not leave its threads behind; when the pool is dropped,
//! idle workers end at once.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// Default number of workers (concurrent handlers); more jobs queue. Far above the host's default of 16
/// concurrent calls per plugin.
pub(crate) const DEFAULT_MAX_WORKERS: usize = 256;
/// How long a worker waits for a job before it ends.
const IDLE_EXIT: Duration = Duration::from_secs(30);

type Job = Box<dyn FnOnce() + Send>;

pub(crate) struct Pool {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    max: usize,
    name: String,
}

struct State {
    queue: VecDeque<Job>,
    /// Workers alive.
    workers: usize,
    /// Workers waiting for a job.
    idle: usize,
    /// Set when the pool is dropped: idle workers end.
    stopping: bool,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Pool {
    /// A pool of at most `max` workers (at least 1), named `<name>-<n>`.
    pub(crate) fn new(name: &str, max: usize) -> Self {
        let state = State { queue: VecDeque::new(), workers: 0, idle: 0, stopping: false };
        Pool {
            shared: Arc::new(Shared {
                state: Mutex::new(state),
                wake: Condvar::new(),
                max: max.max(1),
                name: name.into(),
            }),
        }
    }

    /// Runs `job` on a worker. Errs (and drops the job unrun) only when no worker is alive and none can start.
    pub(crate) fn submit(&self, job: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
        let sh = &self.shared;
        let mut st = sh.state();
        st.queue.push_back(Box::new(job));
        if st.queue.len() <= st.idle {
            // Enough idle workers for every queued job: wake one for this one.
            drop(st);
            sh.wake.notify_one();
            return Ok(());
        }
        if st.workers >= sh.max {
            return Ok(()); // The next worker to finish takes it.
        }
        st.workers += 1;
        let n = st.workers;
        drop(st);
        let shared = sh.clone();
        let spawned = std::thread::Builder::new().name(format!("{}-{n}", sh.name)).spawn(move || work(&shared));
        if let Err(e) = spawned {
            let mut st = sh.state();
            st.workers -= 1;
            if st.workers == 0 {
                // Nobody will ever run the queue: drop its jobs unrun; the caller answers for this one.
                let jobs = std::mem::take(&mut st.queue);
                drop(st);
                drop(jobs);
                return Err(e);
            }
            // The workers alive will get to it.
        }
        Ok(())
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shared.state().stopping = true;
        self.shared.wake.notify_all();
    }
}

fn work(sh: &Shared) {
    let mut st = sh.state();
    loop {
        if let Some(job) = st.queue.pop_front() {
            drop(st);
            // Jobs catch their own panics; this only keeps the worker alive if one does not.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
            st = sh.state();
            continue;
        }
        if st.stopping {
            break;
        }
        st.idle += 1;
        let (guard, timeout) = sh.wake.wait_timeout(st, IDLE_EXIT).unwrap_or_else(|e| e.into_inner());
        st = guard;
        st.idle -= 1;
        if timeout.timed_out() && st.queue.is_empty() {
            break;
        }
    }
    st.workers -= 1;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;

    #[test]
    fn runs_jobs_and_reuses_workers() {
        let pool = Pool::new("t", 8);
        let (tx, rx) = channel();
        for i in 0..100 {
            let tx = tx.clone();
            pool.submit(move || tx.send(i).unwrap()).unwrap();
        }
        let mut got: Vec<i32> = rx.iter().take(100).collect();
        got.sort();
        assert_eq!(got, (0..100).collect::<Vec<_>>());
        assert!(pool.shared.state().workers <= 8);
    }

    #[test]
    fn grows_while_workers_block() {
        // 20 jobs that each wait for all 20 to be running: only works if the pool grows past busy workers.
        let pool = Pool::new("t", 64);
        let barrier = Arc::new(std::sync::Barrier::new(20));
        let (tx, rx) = channel();
        for _ in 0..20 {
            let (b, tx) = (barrier.clone(), tx.clone());
            pool.submit(move || {
                b.wait();
                tx.send(()).unwrap();
            })
            .unwrap();
        }
        for _ in 0..20 {
            rx.recv_timeout(Duration::from_secs(5)).expect("a job did not run");
        }
    }

    #[test]
    fn queues_beyond_the_cap() {
        let pool = Pool::new("t", 2);
        let (release_tx, release_rx) = channel::<()>();
        let release_rx = Arc::new(Mutex::new(release_rx));
        let (tx, rx) = channel();
        for i in 0..5 {
            let (r, tx) = (release_rx.clone(), tx.clone());
            pool.submit(move || {
                tx.send(i).unwrap();
                let _ = r.lock().unwrap().recv();
            })
            .unwrap();
        }
        // Two run; the rest wait.
        rx.recv_timeout(Duration::from_secs(5)).unwrap();
        rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert!(rx.recv_timeout(Duration::from_millis(100)).is_err());
        assert_eq!(pool.shared.state().workers, 2);
        for _ in 0..5 {
            release_tx.send(()).unwrap();
        }
        for _ in 0..3 {
            rx.recv_timeout(Duration::from_secs(5)).unwrap();
        }
    }

    #[test]
    fn survives_a_panicking_job() {
        let pool = Pool::new("t", 1);
        pool.submit(|| panic!("boom")).unwrap();
        let (tx, rx) = channel();
        pool.submit(move || tx.send(1).unwrap()).unwrap();
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), 1);
    }
}
