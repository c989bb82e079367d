//! `virtkit console NAME`: the terminal attached to a guest's serial
//! console. Ctrl-] detaches. With standard input not a terminal, what it
//! carries is sent and the output is shown until the console has been
//! quiet for a second after input ends.

use std::io::{IsTerminal, Read};
use std::os::fd::AsFd;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use virtkit::Console;

use crate::commands::Failure;

/// Ctrl-]: leave the console.
const ESCAPE: u8 = 0x1d;

/// Puts the terminal in raw mode while alive.
struct RawMode {
    saved: nix::sys::termios::Termios,
}

impl RawMode {
    fn enter() -> Option<RawMode> {
        let stdin = std::io::stdin();
        let saved = nix::sys::termios::tcgetattr(stdin.as_fd()).ok()?;
        let mut raw = saved.clone();
        nix::sys::termios::cfmakeraw(&mut raw);
        nix::sys::termios::tcsetattr(stdin.as_fd(), nix::sys::termios::SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = nix::sys::termios::tcsetattr(std::io::stdin().as_fd(), nix::sys::termios::SetArg::TCSANOW, &self.saved);
    }
}

pub async fn attach(name: &str, mut console: Console) -> Result<(), Failure> {
    let tty = std::io::stdin().is_terminal();
    if tty {
        eprintln!("Connected to domain '{name}'\r\nEscape character is ^]\r");
    }
    let _raw = if tty { RawMode::enter() } else { None };
    // Standard input is read on a thread of its own, not tokio's blocking
    // pool: a read pending on a terminal would hold the runtime open at exit.
    let (in_tx, mut in_rx) = tokio::sync::mpsc::channel::<std::io::Result<Vec<u8>>>(16);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = [0u8; 1024];
        loop {
            let r = stdin.read(&mut buf).map(|n| buf[..n].to_vec());
            let end = !matches!(&r, Ok(d) if !d.is_empty());
            if in_tx.blocking_send(r).is_err() || end {
                return;
            }
        }
    });
    let mut stdout = tokio::io::stdout();
    let mut outbuf = [0u8; 4096];
    let mut input_done = false;
    let io = |what: &str, e: std::io::Error| Failure::Message(format!("{what}: {e}"));
    loop {
        let quiet = tokio::time::sleep(Duration::from_secs(1));
        tokio::select! {
            r = in_rx.recv(), if !input_done => {
                let data = match r {
                    Some(r) => r.map_err(|e| io("standard input", e))?,
                    None => Vec::new(),
                };
                if data.is_empty() {
                    input_done = true;
                    if tty {
                        break;
                    }
                    continue;
                }
                let (send, leave) = match data.iter().position(|b| *b == ESCAPE) {
                    Some(i) => (&data[..i], true),
                    None => (&data[..], false),
                };
                console.write_all(send).await.map_err(|e| io("console", e))?;
                console.flush().await.map_err(|e| io("console", e))?;
                if leave {
                    break;
                }
            }
            r = console.read(&mut outbuf) => {
                let n = r.map_err(|e| io("console", e))?;
                if n == 0 {
                    break;
                }
                stdout.write_all(&outbuf[..n]).await.map_err(|e| io("standard output", e))?;
                stdout.flush().await.map_err(|e| io("standard output", e))?;
            }
            () = quiet, if input_done => break,
        }
    }
    if tty {
        eprintln!("\r");
    }
    Ok(())
}
