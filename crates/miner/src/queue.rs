//! A bounded work queue drained by a fixed set of dedicated threads.
//!
//! Evaluation is CPU-bound and parallel inside (rayon), so it runs on these threads,
//! never on the async runtime's. A request's items are admitted all at once or not at
//! all, so a request is never half-queued when the queue fills.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PushError {
    #[error("the work queue is full ({waiting} waiting, room for {capacity})")]
    Full { waiting: usize, capacity: usize },
    #[error("the miner is shutting down")]
    Closed,
}

#[derive(Debug)]
pub struct WorkQueue<J> {
    capacity: usize,
    state: Mutex<State<J>>,
    ready: Condvar,
}

#[derive(Debug)]
struct State<J> {
    jobs: VecDeque<J>,
    closed: bool,
}

impl<J> WorkQueue<J> {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            state: Mutex::new(State {
                jobs: VecDeque::new(),
                closed: false,
            }),
            ready: Condvar::new(),
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Jobs waiting for a worker.
    pub fn depth(&self) -> usize {
        self.lock().jobs.len()
    }

    /// Queues every job, or none of them if they do not all fit.
    pub fn push_all(&self, jobs: Vec<J>) -> Result<(), (PushError, Vec<J>)> {
        let mut state = self.lock();
        if state.closed {
            return Err((PushError::Closed, jobs));
        }
        if state.jobs.len() + jobs.len() > self.capacity {
            let error = PushError::Full {
                waiting: state.jobs.len(),
                capacity: self.capacity,
            };
            return Err((error, jobs));
        }
        state.jobs.extend(jobs);
        drop(state);
        self.ready.notify_all();
        Ok(())
    }

    /// The next job; blocks while the queue is empty and open. `None` once closed and
    /// drained.
    pub fn pop(&self) -> Option<J> {
        let mut state = self.lock();
        loop {
            if let Some(job) = state.jobs.pop_front() {
                return Some(job);
            }
            if state.closed {
                return None;
            }
            state = self.ready.wait(state).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Refuses new jobs; workers finish what is queued, then stop.
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }

    fn lock(&self) -> MutexGuard<'_, State<J>> {
        // Every critical section is a single queue operation: a poisoned lock still
        // guards a consistent queue.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Starts `count` named threads that run `handle` on each job until the queue is
/// closed and drained.
pub(crate) fn spawn_workers<J: Send + 'static>(
    count: usize,
    queue: Arc<WorkQueue<J>>,
    handle: Arc<dyn Fn(J) + Send + Sync>,
) -> std::io::Result<Vec<JoinHandle<()>>> {
    (0..count)
        .map(|i| {
            let queue = queue.clone();
            let handle = handle.clone();
            std::thread::Builder::new()
                .name(format!("miner-worker-{i}"))
                .spawn(move || {
                    while let Some(job) = queue.pop() {
                        handle(job);
                    }
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn admits_whole_batches_only() {
        let queue = WorkQueue::new(3);
        queue.push_all(vec![1, 2]).unwrap();
        let (error, rejected) = queue.push_all(vec![3, 4]).unwrap_err();
        assert_eq!(
            error,
            PushError::Full {
                waiting: 2,
                capacity: 3
            }
        );
        assert_eq!(rejected, [3, 4]);
        assert_eq!(queue.depth(), 2);
        queue.push_all(vec![3]).unwrap();
        assert_eq!(queue.pop(), Some(1));
        queue.close();
        assert_eq!(queue.push_all(vec![9]).unwrap_err().0, PushError::Closed);
        // Closing drains what was queued before stopping.
        assert_eq!(queue.pop(), Some(2));
        assert_eq!(queue.pop(), Some(3));
        assert_eq!(queue.pop(), None);
    }

    #[test]
    fn workers_run_every_job_then_stop() {
        let queue = Arc::new(WorkQueue::new(100));
        let (tx, rx) = mpsc::channel();
        let tx = Mutex::new(tx);
        let workers = spawn_workers(
            3,
            queue.clone(),
            Arc::new(move |job: u32| tx.lock().unwrap().send(job * 2).unwrap()),
        )
        .unwrap();
        queue.push_all((0..50).collect()).unwrap();
        queue.close();
        for worker in workers {
            worker.join().unwrap();
        }
        let mut results: Vec<u32> = rx.try_iter().collect();
        results.sort_unstable();
        assert_eq!(results, (0..50).map(|j| j * 2).collect::<Vec<_>>());
    }
}
