//! What the daemon takes from the system beyond its limits' accounting:
//! file descriptors (one per client) and memory that clients gave back.
//!
//! glibc's malloc keeps memory freed by the worker threads in their arenas
//! instead of returning it to the system, so a daemon that once served a
//! client holding hundreds of megabytes would keep them after it left. After
//! clients leave, the daemon asks malloc to return what is free.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Seconds left in which to give memory back.
static GIVE_BACK: AtomicU32 = AtomicU32::new(0);

/// For how long after a client left memory is given back: what its calls
/// still had running (a document being written) ends within a few seconds.
const AFTER_CLIENT: u32 = 5;

/// A client left: memory may be free to return.
pub(crate) fn client_gone() {
    GIVE_BACK.store(AFTER_CLIENT, Ordering::SeqCst);
}

/// Returns free memory to the system once a second for a few seconds
/// after a client left. Runs until the daemon stops.
pub(crate) async fn give_back() {
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let left = GIVE_BACK.load(Ordering::SeqCst);
        if left > 0 {
            let _ = GIVE_BACK.compare_exchange(left, left - 1, Ordering::SeqCst, Ordering::SeqCst);
            let _ = tokio::task::spawn_blocking(trim).await;
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() {
    // SAFETY: malloc_trim takes no pointer and only walks malloc's own
    // arenas under their locks; any thread may call it at any time.
    #[allow(unsafe_code)]
    unsafe {
        nix::libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}

/// Allocations of at least this many bytes get pages of their own, which
/// go back to the system when freed.
const OWN_PAGES: i32 = 256 << 10;

/// Large blocks (documents, replies) get pages of their own. glibc would
/// otherwise raise that threshold to the largest block freed so far (up
/// to 32 MiB), after which documents are carved from the arenas, where
/// what they leave between live blocks cannot be given back. Call before
/// any thread starts.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub(crate) fn large_blocks_apart() {
    // SAFETY: mallopt takes two integers and only sets malloc's own
    // parameters; called before any other thread exists.
    #[allow(unsafe_code)]
    unsafe {
        nix::libc::mallopt(nix::libc::M_MMAP_THRESHOLD, OWN_PAGES);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(crate) fn large_blocks_apart() {}

/// Raises the soft limit on open files to the hard one: each client is a
/// file descriptor, and the usual soft limit (1024) is below the number of
/// clients the daemon admits.
pub(crate) fn raise_open_files() -> Option<u64> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
    if soft >= hard {
        return Some(soft);
    }
    match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
        Ok(()) => Some(hard),
        Err(_) => Some(soft),
    }
}
