//! `virtkit proxy`: relays standard input and output to a daemon's unix
//! socket, byte for byte. An SSH client runs it on the far side, so a
//! `+ssh` URI speaks to that machine's daemon over ssh's stdio.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

use crate::commands::Failure;

pub async fn relay(socket: &Path) -> Result<(), Failure> {
    let sock = UnixStream::connect(socket)
        .map_err(|e| Failure::Message(format!("cannot connect to {}: {e}", socket.display())))?;
    let mut to_daemon = sock.try_clone().map_err(|e| Failure::Message(format!("cannot relay: {e}")))?;
    // Blocking copies on two threads: nothing else runs in this process.
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut to_daemon);
        let _ = to_daemon.shutdown(std::net::Shutdown::Write);
    });
    let mut from_daemon = sock;
    let mut out = std::io::stdout().lock();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from_daemon.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Failure::Message(format!("relay from {}: {e}", socket.display()))),
        };
        // The far end (ssh) going away is the normal end of a session.
        if out.write_all(&buf[..n]).and_then(|()| out.flush()).is_err() {
            return Ok(());
        }
    }
}
