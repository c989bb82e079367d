//! Jobs: one at a time per object changes it. A job knows what it is, when
//! it began, how far it got (for long ones) and whether it was asked to
//! stop. Queries read a job's state without waiting for it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{Notify, OwnedMutexGuard};

use crate::error::{Error, ErrorKind, Result};
use crate::types::{JobInfo, JobKind};

/// The job lock of one object and the job that holds it.
#[derive(Debug, Default)]
pub(crate) struct JobSlot {
    lock: Arc<tokio::sync::Mutex<()>>,
    current: Mutex<Option<Arc<JobState>>>,
}

/// A running job, as drivers see it: they report progress on it and
/// check whether it was cancelled.
#[derive(Debug)]
pub struct JobState {
    kind: JobKind,
    started_ms: u64,
    done: AtomicU64,
    total: AtomicU64,
    cancellable: bool,
    allows: &'static [JobKind],
    cancelled: AtomicBool,
    wake: Notify,
}

/// A job handed to a driver for a long operation.
pub type JobCtl = Arc<JobState>;

impl JobState {
    pub(crate) fn new(kind: JobKind) -> Arc<JobState> {
        let started_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        Arc::new(JobState {
            kind,
            started_ms,
            done: AtomicU64::new(0),
            total: AtomicU64::new(0),
            cancellable: kind.is_long(),
            allows: &[],
            cancelled: AtomicBool::new(false),
            wake: Notify::new(),
        })
    }

    /// A job for drivers' own tests and tools, outside any engine.
    pub fn detached(kind: JobKind) -> JobCtl {
        JobState::new(kind)
    }

    pub fn kind(&self) -> JobKind {
        self.kind
    }

    /// How much there is to do (bytes, for data jobs).
    pub fn set_total(&self, total: u64) {
        self.total.store(total, Ordering::Relaxed);
    }

    /// How much is done so far.
    pub fn set_done(&self, done: u64) {
        self.done.store(done, Ordering::Relaxed);
    }

    pub fn add_done(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
    }

    pub fn progress(&self) -> (u64, u64) {
        (self.done.load(Ordering::Relaxed), self.total.load(Ordering::Relaxed))
    }

    /// Whether someone asked the job to stop.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    /// An error when the job was cancelled: call between steps.
    pub fn check(&self) -> Result<()> {
        if self.is_cancelled() {
            Err(Error::new(ErrorKind::Cancelled, format!("the {} job was cancelled", self.kind)))
        } else {
            Ok(())
        }
    }

    /// Resolves once the job is cancelled.
    pub async fn cancelled(&self) {
        loop {
            let notified = self.wake.notified();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }

    pub(crate) fn cancel(&self) -> bool {
        if !self.cancellable {
            return false;
        }
        self.cancelled.store(true, Ordering::Release);
        self.wake.notify_waiters();
        true
    }

    pub(crate) fn info(&self) -> JobInfo {
        let (done, total) = self.progress();
        JobInfo {
            kind: self.kind,
            started_ms: self.started_ms,
            done,
            total,
            cancellable: self.cancellable,
            allows: self.allows.to_vec(),
        }
    }
}

/// Held for the whole of a job; the slot is free again when it drops.
#[derive(Debug)]
pub(crate) struct JobGuard {
    _lock: OwnedMutexGuard<()>,
    slot: Arc<JobSlot>,
    pub(crate) state: JobCtl,
}

impl Drop for JobGuard {
    fn drop(&mut self) {
        let mut cur = self.slot.current.lock().unwrap_or_else(|p| p.into_inner());
        if cur.as_ref().is_some_and(|c| Arc::ptr_eq(c, &self.state)) {
            *cur = None;
        }
    }
}

impl JobSlot {
    /// Waits up to `wait` for the slot, then holds it for a job of `kind`.
    pub(crate) async fn begin(self: &Arc<Self>, kind: JobKind, wait: Duration, what: &str) -> Result<JobGuard> {
        let lock = tokio::time::timeout(wait, self.lock.clone().lock_owned()).await.map_err(|_| {
            let busy = self.current().map(|j| format!(" ({})", j.kind)).unwrap_or_default();
            Error::new(ErrorKind::Timeout, format!("{what} is busy with another operation{busy}"))
        })?;
        let state = JobState::new(kind);
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(state.clone());
        Ok(JobGuard { _lock: lock, slot: self.clone(), state })
    }

    /// The running job, if any.
    pub(crate) fn current(&self) -> Option<JobInfo> {
        self.current.lock().unwrap_or_else(|p| p.into_inner()).as_ref().map(|j| j.info())
    }

    /// Asks the running job to stop: `Ok(false)` when there is none.
    pub(crate) fn cancel(&self, what: &str) -> Result<bool> {
        let cur = self.current.lock().unwrap_or_else(|p| p.into_inner()).clone();
        match cur {
            None => Ok(false),
            Some(j) if j.cancel() => Ok(true),
            Some(j) => {
                Err(Error::new(ErrorKind::InvalidState, format!("the {} job of {what} cannot be cancelled", j.kind)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_job_holds_the_slot_and_reports_progress() {
        let slot = Arc::new(JobSlot::default());
        let g = slot.begin(JobKind::Upload, Duration::from_secs(1), "x").await.unwrap_or_else(|e| panic!("{e}"));
        g.state.set_total(10);
        g.state.add_done(4);
        let info = slot.current().unwrap_or_else(|| panic!("no job"));
        assert_eq!((info.kind, info.done, info.total, info.cancellable), (JobKind::Upload, 4, 10, true));
        let busy = slot.begin(JobKind::Delete, Duration::from_millis(10), "volume 'v'").await.unwrap_err();
        assert_eq!(busy.to_string(), "volume 'v' is busy with another operation (upload)");
        assert!(slot.cancel("v").unwrap_or(false));
        assert!(g.state.check().is_err());
        drop(g);
        assert!(slot.current().is_none());
    }

    #[tokio::test]
    async fn short_jobs_cannot_be_cancelled() {
        let slot = Arc::new(JobSlot::default());
        let _g = slot.begin(JobKind::Start, Duration::from_secs(1), "x").await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(slot.cancel("domain 'x'").unwrap_err().kind(), ErrorKind::InvalidState);
    }
}
