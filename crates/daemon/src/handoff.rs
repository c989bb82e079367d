//! Files handed over on the unix socket: a client on this host passes an
//! open file's descriptor (SCM_RIGHTS) instead of streaming its bytes, and
//! gets a token that one upload or download call of the same user names.
//! The daemon only ever uses the descriptor it was given, so it can do no
//! more with the file than the client could. A handover connection is told
//! from a gRPC one by its first byte (HTTP/2 starts with `P`).

use std::collections::HashMap;
use std::fs::File;
use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
use tokio::io::{AsyncWriteExt, Interest};
use tokio::net::UnixStream;
use virtkit::{Error, ErrorKind};
use virtkit_proto::handoff::{HELLO, MAX_ANSWER, TOKEN_SECS};

/// How long a new connection has to send its first byte before it is
/// taken for gRPC (whose client speaks first too).
const FIRST_BYTE: Duration = Duration::from_secs(1);
/// Files a user may have handed over and not yet used.
const PER_UID: usize = 8;
/// Files held for all users.
const TOTAL: usize = 128;
/// FUSE's `f_type`: a file there is served by a process the client may
/// control, which could hold the daemon's reads forever.
const FUSE_MAGIC: i64 = 0x6573_5546;

struct Held {
    uid: u32,
    file: File,
    until: Instant,
}

/// The files handed over and not yet used, by token.
#[derive(Default)]
pub(crate) struct Handoffs {
    held: Mutex<HashMap<String, Held>>,
}

impl std::fmt::Debug for Handoffs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handoffs").finish_non_exhaustive()
    }
}

impl Handoffs {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Held>> {
        self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Keeps `file` for `uid`; its token.
    fn hold(&self, uid: u32, file: File) -> Result<String, String> {
        let now = Instant::now();
        let mut held = self.lock();
        held.retain(|_, h| h.until > now);
        if held.values().filter(|h| h.uid == uid).count() >= PER_UID {
            return Err(format!("this user already has {PER_UID} files handed over and not used"));
        }
        if held.len() >= TOTAL {
            return Err(format!("the daemon already holds {TOTAL} files handed over"));
        }
        let token = uuid::Uuid::new_v4().simple().to_string();
        held.insert(token.clone(), Held { uid, file, until: now + Duration::from_secs(TOKEN_SECS) });
        Ok(token)
    }

    /// The file `token` names, if `uid` handed it over and it is open for
    /// `writing` (or reading); it is good once.
    pub(crate) fn take(&self, token: &str, uid: u32, writing: bool) -> virtkit::Result<File> {
        let gone =
            || Error::new(ErrorKind::InvalidArgument, "no file was handed over with this token, or it has expired");
        let mut held = self.lock();
        match held.get(token) {
            Some(h) if h.uid == uid && h.until > Instant::now() => {}
            _ => return Err(gone()),
        }
        let file = held.remove(token).ok_or_else(gone)?.file;
        drop(held);
        open_for(&file, writing)?;
        Ok(file)
    }
}

/// Refuses a file not open the way a transfer needs.
fn open_for(file: &File, writing: bool) -> virtkit::Result<()> {
    use nix::fcntl::{FcntlArg, OFlag, fcntl};
    let flags = fcntl(file, FcntlArg::F_GETFL)
        .map_err(|e| Error::new(ErrorKind::Internal, format!("cannot read the handed file's flags: {e}")))?;
    let mode = OFlag::from_bits_truncate(flags) & OFlag::O_ACCMODE;
    let ok = if writing { mode != OFlag::O_RDONLY } else { mode != OFlag::O_WRONLY };
    if ok {
        return Ok(());
    }
    let how = if writing { "writing" } else { "reading" };
    Err(Error::new(ErrorKind::InvalidArgument, format!("the file handed over is not open for {how}")))
}

/// Whether a new connection starts with a handover's first byte (waiting
/// at most [`FIRST_BYTE`] for it).
pub(crate) async fn is_handover(s: &UnixStream) -> bool {
    let peek = async {
        loop {
            if s.readable().await.is_err() {
                return false;
            }
            let mut b = [0u8; 1];
            let r = s.try_io(Interest::READABLE, || {
                nix::sys::socket::recv(s.as_raw_fd(), &mut b, MsgFlags::MSG_PEEK).map_err(std::io::Error::from)
            });
            match r {
                Ok(n) => return n == 1 && b[0] == HELLO[0],
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => return false,
            }
        }
    };
    tokio::time::timeout(FIRST_BYTE, peek).await.unwrap_or(false)
}

/// Serves one handover connection from `uid`: takes the file, answers
/// with its token or why not.
pub(crate) async fn serve(mut s: UnixStream, uid: u32, handoffs: &Handoffs) {
    let answer = match tokio::time::timeout(FIRST_BYTE, receive(&s)).await {
        Ok(Ok(file)) => handoffs.hold(uid, file),
        Ok(Err(why)) => Err(why),
        Err(_) => Err("no file came in time".to_owned()),
    };
    let line = match &answer {
        Ok(token) => {
            tracing::info!(uid, "file handed over");
            format!("ok {token}\n")
        }
        Err(why) => {
            tracing::warn!(uid, "file handover refused: {why}");
            let mut line = format!("error {why}");
            line.truncate(MAX_ANSWER - 1);
            line + "\n"
        }
    };
    let _ = s.write_all(line.as_bytes()).await;
    let _ = s.shutdown().await;
}

/// The one regular file that comes with the hello.
async fn receive(s: &UnixStream) -> Result<File, String> {
    loop {
        s.readable().await.map_err(|e| format!("cannot read: {e}"))?;
        match s.try_io(Interest::READABLE, || recv_hello(s.as_raw_fd()).map_err(std::io::Error::from)) {
            Ok(r) => return r.and_then(check_file),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(format!("cannot read: {e}")),
        }
    }
}

/// Reads the hello and every descriptor with it (each closed unless it is
/// the only one).
fn recv_hello(fd: RawFd) -> nix::Result<Result<OwnedFd, String>> {
    let mut buf = [0u8; HELLO.len()];
    let mut space = nix::cmsg_space!([RawFd; 4]);
    let mut iov = [IoSliceMut::new(&mut buf)];
    let msg = recvmsg::<()>(fd, &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)?;
    let truncated = msg.flags.contains(MsgFlags::MSG_CTRUNC);
    let mut fds = Vec::new();
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(raw) = c {
            // SAFETY: the kernel has just made these descriptors in this
            // process for this message; nothing else owns them.
            #[allow(unsafe_code)]
            fds.extend(raw.into_iter().map(|r| unsafe { OwnedFd::from_raw_fd(r) }));
        }
    }
    let n = msg.bytes;
    Ok(if n != HELLO.len() || buf != *HELLO {
        Err("the handover does not start with its hello".to_owned())
    } else if truncated || fds.len() > 1 {
        Err("more than one file was handed over".to_owned())
    } else {
        fds.pop().ok_or_else(|| "no file came with the handover".to_owned())
    })
}

/// A regular file, not on FUSE.
fn check_file(fd: OwnedFd) -> Result<File, String> {
    let st = nix::sys::stat::fstat(&fd).map_err(|e| format!("cannot read the file handed over: {e}"))?;
    use nix::sys::stat::SFlag;
    if SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) != SFlag::S_IFREG {
        return Err("the file handed over is not a regular file".to_owned());
    }
    let fs = nix::sys::statfs::fstatfs(&fd).map_err(|e| format!("cannot read the file handed over: {e}"))?;
    if fs.filesystem_type().0 as i64 == FUSE_MAGIC {
        return Err("a file on FUSE cannot be handed over".to_owned());
    }
    Ok(File::from(fd))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::socket::{ControlMessage, sendmsg};
    use std::io::IoSlice;
    use tokio::io::AsyncReadExt;

    /// Sends `hello` with `fds` on one end of a pair; what the other end,
    /// served, answers.
    async fn hand(hello: &[u8], fds: &[RawFd], h: &Handoffs) -> String {
        let (mut a, b) = UnixStream::pair().unwrap();
        let rights = [ControlMessage::ScmRights(fds)];
        let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &rights };
        sendmsg::<()>(a.as_raw_fd(), &[IoSlice::new(hello)], cmsgs, MsgFlags::empty(), None).unwrap();
        assert!(is_handover(&b).await || hello.first() != Some(&HELLO[0]));
        serve(b, 1000, h).await;
        let mut out = String::new();
        a.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn a_file_is_taken_once_by_its_user_for_its_use() {
        let h = Handoffs::default();
        let t = tempfile::NamedTempFile::new().unwrap();
        let f = File::open(t.path()).unwrap();
        let answer = hand(HELLO, &[f.as_raw_fd()], &h).await;
        let token = answer.strip_prefix("ok ").and_then(|t| t.strip_suffix('\n')).unwrap();
        assert_eq!(h.take(token, 1001, false).unwrap_err().kind(), ErrorKind::InvalidArgument);
        let e = h.take(token, 1000, true).unwrap_err();
        assert!(e.to_string().contains("not open for writing"), "{e}");
        // Refused for its use, it is gone all the same.
        assert!(h.take(token, 1000, false).is_err());

        let answer = hand(HELLO, &[f.as_raw_fd()], &h).await;
        let token = answer.strip_prefix("ok ").and_then(|t| t.strip_suffix('\n')).unwrap();
        assert!(h.take(token, 1000, false).is_ok());
        assert!(h.take(token, 1000, false).is_err());
    }

    #[tokio::test]
    async fn what_is_not_one_regular_file_is_refused() {
        let h = Handoffs::default();
        let t = tempfile::NamedTempFile::new().unwrap();
        let f = File::open(t.path()).unwrap();
        let d = File::open(t.path().parent().unwrap()).unwrap();
        assert_eq!(hand(HELLO, &[], &h).await, "error no file came with the handover\n");
        assert_eq!(
            hand(HELLO, &[f.as_raw_fd(), f.as_raw_fd()], &h).await,
            "error more than one file was handed over\n"
        );
        assert_eq!(hand(HELLO, &[d.as_raw_fd()], &h).await, "error the file handed over is not a regular file\n");
        assert_eq!(hand(b"VKFD9\n", &[f.as_raw_fd()], &h).await, "error the handover does not start with its hello\n");
        assert_eq!(h.take("0123", 1000, false).unwrap_err().kind(), ErrorKind::InvalidArgument);
    }

    #[tokio::test]
    async fn a_user_holds_a_bounded_number_of_files() {
        let h = Handoffs::default();
        let t = tempfile::NamedTempFile::new().unwrap();
        for _ in 0..PER_UID {
            h.hold(7, File::open(t.path()).unwrap()).unwrap();
        }
        assert!(h.hold(7, File::open(t.path()).unwrap()).unwrap_err().contains("already has 8"));
        assert!(h.hold(8, File::open(t.path()).unwrap()).is_ok());
    }

    #[tokio::test]
    async fn grpc_is_not_a_handover() {
        let (mut a, b) = UnixStream::pair().unwrap();
        a.write_all(b"PRI * HTTP/2.0").await.unwrap();
        assert!(!is_handover(&b).await);
        let (_a, b) = UnixStream::pair().unwrap();
        assert!(!is_handover(&b).await, "silence is taken for grpc after a second");
    }
}
