//! Progress bars on a terminal (standard error) for volumes' long jobs
//! (create, clone, wipe, upload, download): the job's progress as the
//! engine reports it, asked for by the volume's UUID (a volume being made
//! answers by it, building). An upload or download of a file handed over
//! moves no bytes through this process, so the engine is what can tell.

use std::future::Future;
use std::io::IsTerminal;
use std::time::Duration;

use indicatif::ProgressBar;
use uuid::Uuid;
use virtkit::{Connection, Info, JobInfo, ObjectKind};

/// How often a job's progress is asked for.
const EVERY: Duration = Duration::from_millis(100);

/// Whether bars are drawn: both standard output and error are terminals.
pub(crate) fn on_terminal() -> bool {
    std::io::stdout().is_terminal() && std::io::stderr().is_terminal()
}

/// A bar of `total` bytes on a terminal, a hidden one otherwise.
fn bar(total: u64, what: &str) -> ProgressBar {
    if !on_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} {eta}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_owned());
    bar
}

/// Where a volume's job is read: its info, by UUID.
pub(crate) struct Watch<'a> {
    conn: &'a Connection,
    volume: Uuid,
}

impl<'a> Watch<'a> {
    pub(crate) fn new(conn: &'a Connection, volume: Uuid) -> Self {
        Watch { conn, volume }
    }

    /// The volume's job now, if it has one.
    async fn job(&self) -> Option<JobInfo> {
        match self.conn.object_info(ObjectKind::Volume, self.volume).await {
            Ok(Info::Volume(i)) => i.job,
            _ => None,
        }
    }
}

/// Runs `op`, showing the volume's job on a bar meanwhile when on a
/// terminal.
pub(crate) async fn job_bar<T>(watch: Watch<'_>, op: impl Future<Output = T>) -> T {
    if !on_terminal() {
        return op.await;
    }
    let bar = bar(0, "");
    let r = follow(&bar, &watch, EVERY, op).await;
    bar.finish_and_clear();
    r
}

/// Keeps `bar` at the progress of `watch`'s job, asked every `every`,
/// until `op` ends (a job that cannot tell its total leaves it as it is).
pub(crate) async fn follow<T>(bar: &ProgressBar, watch: &Watch<'_>, every: Duration, op: impl Future<Output = T>) -> T {
    tokio::pin!(op);
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            r = &mut op => return r,
            _ = tick.tick() => {
                if let Some(j) = watch.job().await.filter(|j| j.total > 0) {
                    bar.set_length(j.total);
                    bar.set_position(j.done.min(j.total));
                    bar.set_message(j.kind.to_string());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Bytes that are not zeros (so that a copy has them all to move).
    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i % 251) as u8 | 1).collect()
    }

    #[tokio::test]
    async fn the_bars_of_clone_and_wipe_follow_their_jobs() {
        let root = tempfile::Builder::new().prefix("vk").tempdir_in("/tmp").unwrap();
        let conn = Connection::open(&format!("qemu:///embed?root={}", root.path().display())).await.unwrap();
        let dir = root.path().join("images");
        let xml = format!("<pool type='dir'><name>p</name><target><path>{}</path></target></pool>", dir.display());
        let pool = conn.define_pool_xml(&xml, Default::default()).await.unwrap();
        pool.build(Default::default()).await.unwrap();
        pool.start(Default::default()).await.unwrap();
        let size = 256usize << 20;
        std::fs::write(dir.join("a.img"), data(size)).unwrap();
        pool.refresh(Default::default()).await.unwrap();
        let a = pool.lookup_volume("a.img").await.unwrap();

        // The clone's volume is not there yet: its job is read by the UUID it will have.
        let bar = ProgressBar::hidden();
        let watch = Watch::new(&conn, pool.volume_uuid("b.img"));
        let b = follow(&bar, &watch, Duration::from_millis(5), a.clone_as("b.img", Default::default())).await.unwrap();
        assert_eq!((bar.length(), bar.message()), (Some(size as u64), "clone".to_owned()));
        assert!(bar.position() <= size as u64);
        assert_eq!(b.uuid(), pool.volume_uuid("b.img"));

        let bar = ProgressBar::hidden();
        follow(&bar, &Watch::new(&conn, b.uuid()), Duration::from_millis(5), b.wipe(Default::default())).await.unwrap();
        assert_eq!((bar.length(), bar.message()), (Some(size as u64), "wipe".to_owned()));
        assert!(bar.position() <= size as u64);
        // No job, no change: a finished job leaves the bar where it was.
        let bar = ProgressBar::hidden();
        follow(
            &bar,
            &Watch::new(&conn, b.uuid()),
            Duration::from_millis(5),
            tokio::time::sleep(Duration::from_millis(30)),
        )
        .await;
        assert_eq!((bar.length(), bar.position()), (None, 0));
    }
}
