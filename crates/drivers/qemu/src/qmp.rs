//! An async client for QEMU's machine protocol (QMP): the greeting,
//! capabilities negotiation, commands matched to replies by id, and
//! events delivered on a channel. One JSON object per line each way.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::OwnedWriteHalf;
use tokio::sync::{Mutex, mpsc, oneshot};

/// What can go wrong talking to QEMU.
#[derive(Debug, Clone, thiserror::Error)]
pub enum QmpError {
    #[error("the QEMU monitor connection closed")]
    Closed,
    #[error("no answer from QEMU within {0:?}")]
    Timeout(Duration),
    #[error("QEMU refused '{command}': {desc}")]
    Command { command: String, class: String, desc: String },
    #[error("QEMU monitor: {0}")]
    Protocol(String),
    #[error("QEMU monitor: {0}")]
    Io(String),
}

/// An asynchronous event from QEMU.
#[derive(Debug, Clone, PartialEq)]
pub struct QmpEvent {
    pub name: String,
    pub data: Value,
}

type Pending = HashMap<u64, oneshot::Sender<Result<Value, QmpError>>>;

/// A connected, negotiated monitor. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Qmp {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    writer: Mutex<OwnedWriteHalf>,
    pending: std::sync::Mutex<Option<Pending>>,
    next_id: AtomicU64,
    timeout: Duration,
}

/// The greeting's version of QEMU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QemuVersion {
    pub major: u32,
    pub minor: u32,
    pub micro: u32,
}

impl Qmp {
    /// Reads the greeting, negotiates capabilities, and starts delivering
    /// events to the returned receiver (closed when QEMU goes away).
    pub async fn connect(
        stream: UnixStream,
        timeout: Duration,
    ) -> Result<(Qmp, QemuVersion, mpsc::UnboundedReceiver<QmpEvent>), QmpError> {
        let (r, w) = stream.into_split();
        let mut reader = BufReader::new(r);
        let mut line = String::new();
        let n = tokio::time::timeout(timeout, reader.read_line(&mut line))
            .await
            .map_err(|_| QmpError::Timeout(timeout))?
            .map_err(|e| QmpError::Io(e.to_string()))?;
        if n == 0 {
            return Err(QmpError::Closed);
        }
        let greeting: Value =
            serde_json::from_str(&line).map_err(|e| QmpError::Protocol(format!("bad greeting: {e}")))?;
        let v = &greeting["QMP"]["version"]["qemu"];
        let num = |k: &str| v[k].as_u64().and_then(|n| u32::try_from(n).ok());
        let version = match (num("major"), num("minor"), num("micro")) {
            (Some(major), Some(minor), Some(micro)) => QemuVersion { major, minor, micro },
            _ => return Err(QmpError::Protocol(format!("not a QMP greeting: {}", line.trim()))),
        };
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let qmp = Qmp {
            inner: Arc::new(Inner {
                writer: Mutex::new(w),
                pending: std::sync::Mutex::new(Some(HashMap::new())),
                next_id: AtomicU64::new(1),
                timeout,
            }),
        };
        tokio::spawn(read_loop(reader, Arc::downgrade(&qmp.inner), events_tx));
        qmp.execute("qmp_capabilities", None).await?;
        Ok((qmp, version, events_rx))
    }

    /// Runs a command and returns its `return` value.
    pub async fn execute(&self, command: &str, arguments: Option<Value>) -> Result<Value, QmpError> {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        {
            let mut pending = self.inner.pending.lock().unwrap_or_else(|p| p.into_inner());
            match pending.as_mut() {
                Some(p) => p.insert(id, tx),
                None => return Err(QmpError::Closed),
            };
        }
        let mut msg = json!({ "execute": command, "id": id });
        if let Some(a) = arguments {
            msg["arguments"] = a;
        }
        let mut text = msg.to_string();
        text.push('\n');
        let written = {
            let mut w = self.inner.writer.lock().await;
            w.write_all(text.as_bytes()).await
        };
        if let Err(e) = written {
            self.forget(id);
            return Err(QmpError::Io(e.to_string()));
        }
        match tokio::time::timeout(self.inner.timeout, rx).await {
            Ok(Ok(r)) => r.map_err(|e| match e {
                QmpError::Command { class, desc, .. } => QmpError::Command { command: command.to_owned(), class, desc },
                e => e,
            }),
            Ok(Err(_)) => Err(QmpError::Closed),
            Err(_) => {
                self.forget(id);
                Err(QmpError::Timeout(self.inner.timeout))
            }
        }
    }

    /// Sends a command whose reply may never come (`quit` races the socket
    /// closing): waits briefly, and a closed connection counts as done.
    pub async fn execute_closing(&self, command: &str) -> Result<(), QmpError> {
        match self.execute(command, None).await {
            Ok(_) | Err(QmpError::Closed) | Err(QmpError::Io(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn forget(&self, id: u64) {
        if let Some(p) = self.inner.pending.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            p.remove(&id);
        }
    }
}

async fn read_loop(
    mut reader: BufReader<tokio::net::unix::OwnedReadHalf>,
    inner: std::sync::Weak<Inner>,
    events: mpsc::UnboundedSender<QmpEvent>,
) {
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let Ok(msg) = serde_json::from_str::<Value>(&line) else {
            tracing::warn!("unreadable QMP message: {}", line.trim());
            continue;
        };
        if let Some(name) = msg["event"].as_str() {
            let _ =
                events.send(QmpEvent { name: name.to_owned(), data: msg.get("data").cloned().unwrap_or(Value::Null) });
            continue;
        }
        let Some(id) = msg["id"].as_u64() else { continue };
        let Some(inner) = inner.upgrade() else { break };
        let tx = inner.pending.lock().unwrap_or_else(|p| p.into_inner()).as_mut().and_then(|p| p.remove(&id));
        if let Some(tx) = tx {
            let result = if let Some(err) = msg.get("error") {
                Err(QmpError::Command {
                    command: String::new(),
                    class: err["class"].as_str().unwrap_or("GenericError").to_owned(),
                    desc: err["desc"].as_str().unwrap_or("").to_owned(),
                })
            } else {
                Ok(msg.get("return").cloned().unwrap_or(Value::Null))
            };
            let _ = tx.send(result);
        }
    }
    // Closed: every waiting command fails, later ones at once.
    if let Some(inner) = inner.upgrade() {
        let pending = inner.pending.lock().unwrap_or_else(|p| p.into_inner()).take();
        for (_, tx) in pending.into_iter().flatten() {
            let _ = tx.send(Err(QmpError::Closed));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    /// A fake QEMU on the other end of a socket pair.
    async fn fake() -> (UnixStream, UnixStream) {
        UnixStream::pair().unwrap()
    }

    #[tokio::test]
    async fn negotiates_matches_replies_and_delivers_events() {
        let (ours, theirs) = fake().await;
        let server = tokio::spawn(async move {
            let (r, mut w) = theirs.into_split();
            let mut r = BufReader::new(r);
            w.write_all(b"{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 2, \"minor\": 2, \"major\": 7}}, \"capabilities\": []}}\r\n").await.unwrap();
            let mut line = String::new();
            r.read_line(&mut line).await.unwrap();
            let m: Value = serde_json::from_str(&line).unwrap();
            assert_eq!(m["execute"], "qmp_capabilities");
            w.write_all(format!("{{\"return\": {{}}, \"id\": {}}}\r\n", m["id"]).as_bytes()).await.unwrap();
            line.clear();
            r.read_line(&mut line).await.unwrap();
            let m: Value = serde_json::from_str(&line).unwrap();
            assert_eq!(m["execute"], "cont");
            // An event arrives before the reply, as QEMU does it.
            w.write_all(b"{\"timestamp\": {}, \"event\": \"RESUME\"}\r\n").await.unwrap();
            w.write_all(format!("{{\"return\": {{}}, \"id\": {}}}\r\n", m["id"]).as_bytes()).await.unwrap();
            line.clear();
            r.read_line(&mut line).await.unwrap();
            let m: Value = serde_json::from_str(&line).unwrap();
            w.write_all(
                format!("{{\"error\": {{\"class\": \"GenericError\", \"desc\": \"nope\"}}, \"id\": {}}}\r\n", m["id"])
                    .as_bytes(),
            )
            .await
            .unwrap();
            // Then QEMU goes away.
            let mut rest = Vec::new();
            let _ = r.read_to_end(&mut rest).await;
        });
        let (qmp, v, mut events) = Qmp::connect(ours, Duration::from_secs(5)).await.unwrap();
        assert_eq!(v, QemuVersion { major: 7, minor: 2, micro: 2 });
        qmp.execute("cont", None).await.unwrap();
        assert_eq!(events.recv().await.unwrap().name, "RESUME");
        let e = qmp.execute("frob", Some(json!({"a": 1}))).await.unwrap_err();
        assert_eq!(e.to_string(), "QEMU refused 'frob': nope");
        drop(qmp);
        server.await.unwrap();
    }

    #[tokio::test]
    async fn a_vanished_qemu_fails_commands_and_closes_events() {
        let (ours, theirs) = fake().await;
        let (r, mut w) = theirs.into_split();
        w.write_all(b"{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 0, \"major\": 8}}}}\n")
            .await
            .unwrap();
        let server = tokio::spawn(async move {
            let mut r = BufReader::new(r);
            let mut line = String::new();
            r.read_line(&mut line).await.unwrap();
            let m: Value = serde_json::from_str(&line).unwrap();
            w.write_all(format!("{{\"return\": {{}}, \"id\": {}}}\n", m["id"]).as_bytes()).await.unwrap();
            line.clear();
            r.read_line(&mut line).await.unwrap();
            // Dies without answering.
        });
        let (qmp, _, mut events) = Qmp::connect(ours, Duration::from_secs(5)).await.unwrap();
        let e = qmp.execute("query-status", None).await.unwrap_err();
        assert!(matches!(e, QmpError::Closed), "{e}");
        server.await.unwrap();
        assert!(events.recv().await.is_none());
        assert!(matches!(qmp.execute("cont", None).await, Err(QmpError::Closed | QmpError::Io(_))));
    }

    #[tokio::test]
    async fn garbage_greeting_is_an_error() {
        let (ours, mut theirs) = fake().await;
        theirs.write_all(b"hello\n").await.unwrap();
        assert!(matches!(Qmp::connect(ours, Duration::from_secs(1)).await, Err(QmpError::Protocol(_))));
        let (ours, theirs) = fake().await;
        drop(theirs);
        assert!(matches!(Qmp::connect(ours, Duration::from_secs(1)).await, Err(QmpError::Closed)));
        let (ours, _theirs) = fake().await;
        assert!(matches!(Qmp::connect(ours, Duration::from_millis(50)).await, Err(QmpError::Timeout(_))));
    }
}
