//! A client for the QEMU guest agent on its virtio-serial channel: the
//! guest-sync handshake (which throws away whatever a previous client left
//! in the pipe), guest-ping and guest-shutdown.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

#[derive(Debug, Clone, thiserror::Error)]
pub enum AgentError {
    #[error("the guest agent channel cannot be opened: {0}")]
    Connect(String),
    #[error("the guest agent does not answer (is it running in the guest?)")]
    NoAnswer,
    #[error("the guest agent refused '{0}': {1}")]
    Refused(String, String),
    #[error("the guest agent channel: {0}")]
    Io(String),
}

/// A synchronised connection to the agent.
#[derive(Debug)]
pub struct Agent {
    reader: BufReader<tokio::net::unix::OwnedReadHalf>,
    writer: tokio::net::unix::OwnedWriteHalf,
    timeout: Duration,
}

impl Agent {
    /// Connects to the channel's socket and synchronises with guest-sync.
    pub async fn connect(socket: &Path, timeout: Duration) -> Result<Agent, AgentError> {
        let stream = UnixStream::connect(socket).await.map_err(|e| AgentError::Connect(e.to_string()))?;
        let (r, w) = stream.into_split();
        let mut agent = Agent { reader: BufReader::new(r), writer: w, timeout };
        agent.sync().await?;
        Ok(agent)
    }

    async fn send(&mut self, msg: &Value) -> Result<(), AgentError> {
        let mut text = msg.to_string();
        text.push('\n');
        self.writer.write_all(text.as_bytes()).await.map_err(|e| AgentError::Io(e.to_string()))
    }

    /// Reads lines until `done` picks one, within the timeout.
    async fn read_until<T>(&mut self, mut done: impl FnMut(&Value) -> Option<T>) -> Result<T, AgentError> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let n = tokio::time::timeout_at(deadline, self.reader.read_until(b'\n', &mut buf))
                .await
                .map_err(|_| AgentError::NoAnswer)?
                .map_err(|e| AgentError::Io(e.to_string()))?;
            if n == 0 {
                return Err(AgentError::NoAnswer);
            }
            // A delimited sync reply starts with 0xFF; stale bytes may precede a line.
            let start = buf.iter().position(|b| *b == b'{').unwrap_or(buf.len());
            let Ok(v) = serde_json::from_slice::<Value>(&buf[start..]) else { continue };
            if let Some(t) = done(&v) {
                return Ok(t);
            }
        }
    }

    async fn sync(&mut self) -> Result<(), AgentError> {
        // A fresh id each time; a stale answer with an old id is skipped.
        let id = i64::from(u32::from_le_bytes(uuid::Uuid::new_v4().as_bytes()[..4].try_into().unwrap_or_default()));
        // 0xFF makes an agent in the middle of a half-read command start over.
        self.writer.write_all(&[0xff]).await.map_err(|e| AgentError::Io(e.to_string()))?;
        self.send(&json!({ "execute": "guest-sync", "arguments": { "id": id } })).await?;
        self.read_until(|v| (v["return"].as_i64() == Some(id)).then_some(())).await
    }

    /// Runs a command and waits for its reply.
    pub async fn execute(&mut self, command: &str, arguments: Option<Value>) -> Result<Value, AgentError> {
        let mut msg = json!({ "execute": command });
        if let Some(a) = arguments {
            msg["arguments"] = a;
        }
        self.send(&msg).await?;
        let reply =
            self.read_until(|v| (v.get("return").is_some() || v.get("error").is_some()).then(|| v.clone())).await?;
        if let Some(e) = reply.get("error") {
            return Err(AgentError::Refused(command.to_owned(), e["desc"].as_str().unwrap_or("").to_owned()));
        }
        Ok(reply["return"].clone())
    }

    pub async fn ping(&mut self) -> Result<(), AgentError> {
        self.execute("guest-ping", None).await.map(|_| ())
    }

    /// Asks the guest to power off (or reboot). The agent does not reply
    /// to this on success: the guest goes down.
    pub async fn shutdown(&mut self, reboot: bool) -> Result<(), AgentError> {
        let mode = if reboot { "reboot" } else { "powerdown" };
        self.send(&json!({ "execute": "guest-shutdown", "arguments": { "mode": mode } })).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake agent: answers guest-sync (after some junk) and guest-ping.
    async fn serve(listener: tokio::net::UnixListener) -> Vec<String> {
        let (s, _) = listener.accept().await.unwrap();
        let (r, mut w) = s.into_split();
        let mut r = BufReader::new(r);
        let mut seen = Vec::new();
        w.write_all(b"{\"return\": 12345}\n").await.unwrap(); // stale, from an earlier client
        let mut buf = Vec::new();
        while r.read_until(b'\n', &mut buf).await.unwrap() > 0 {
            let start = buf.iter().position(|b| *b == b'{').unwrap();
            let v: Value = serde_json::from_slice(&buf[start..]).unwrap();
            let cmd = v["execute"].as_str().unwrap().to_owned();
            match cmd.as_str() {
                "guest-sync" => {
                    w.write_all(format!("{{\"return\": {}}}\n", v["arguments"]["id"]).as_bytes()).await.unwrap()
                }
                "guest-ping" => w.write_all(b"{\"return\": {}}\n").await.unwrap(),
                "guest-shutdown" => {} // the real agent does not reply either
                _ => w.write_all(b"{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"no\"}}\n").await.unwrap(),
            }
            seen.push(cmd);
            buf.clear();
        }
        seen
    }

    #[tokio::test]
    async fn syncs_pings_and_shuts_down() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ga.sock");
        let server = tokio::spawn(serve(tokio::net::UnixListener::bind(&path).unwrap()));
        let mut a = Agent::connect(&path, Duration::from_secs(5)).await.unwrap();
        a.ping().await.unwrap();
        let e = a.execute("guest-exec", None).await.unwrap_err();
        assert_eq!(e.to_string(), "the guest agent refused 'guest-exec': no");
        a.shutdown(false).await.unwrap();
        drop(a);
        assert_eq!(server.await.unwrap(), ["guest-sync", "guest-ping", "guest-exec", "guest-shutdown"]);
    }

    #[tokio::test]
    async fn a_silent_agent_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ga.sock");
        let listener = tokio::net::UnixListener::bind(&path).unwrap();
        let _keep = tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(30)).await;
            drop(s);
        });
        let e = Agent::connect(&path, Duration::from_millis(200)).await.unwrap_err();
        assert!(matches!(e, AgentError::NoAnswer));
    }
}
