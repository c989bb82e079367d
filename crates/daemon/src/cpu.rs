//! Work of a call that takes CPU in proportion to what the client sent or
//! asked for (reading a document, writing one) runs on a few threads of its
//! own, never on the workers that serve every client: a client sending
//! large documents waits for its own turn and holds up no one else.

use std::sync::Arc;

use tokio::sync::Semaphore;
use tonic::Status;

#[derive(Debug, Clone)]
pub(crate) struct Cpu {
    /// One permit per job at a time.
    slots: Arc<Semaphore>,
}

impl Cpu {
    /// At most `threads` jobs at once; others wait their turn.
    pub(crate) fn new(threads: usize) -> Cpu {
        Cpu { slots: Arc::new(Semaphore::new(threads.max(1))) }
    }

    /// Runs `f` on a thread of the pool once a slot is free. A job whose
    /// caller goes away still holds its slot until it ends.
    pub(crate) async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T, Status> {
        let permit =
            self.slots.clone().acquire_owned().await.map_err(|_| Status::unavailable("the daemon is stopping"))?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            f()
        })
        .await
        .map_err(|e| Status::internal(format!("a job failed: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn jobs_run_off_the_async_thread_and_at_most_n_at_once() {
        let cpu = Cpu::new(2);
        let (busy, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let here = std::thread::current().id();
        let mut jobs = tokio::task::JoinSet::new();
        for _ in 0..6 {
            let (cpu, busy, most) = (cpu.clone(), busy.clone(), most.clone());
            jobs.spawn(async move {
                cpu.run(move || {
                    most.fetch_max(busy.fetch_add(1, SeqCst) + 1, SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    busy.fetch_sub(1, SeqCst);
                    std::thread::current().id()
                })
                .await
            });
        }
        while let Some(id) = jobs.join_next().await {
            let id = id.unwrap_or_else(|e| panic!("{e}")).unwrap_or_else(|e| panic!("{e}"));
            assert_ne!(id, here);
        }
        assert_eq!(most.load(SeqCst), 2);
    }
}
