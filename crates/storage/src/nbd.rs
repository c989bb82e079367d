//! A client of the NBD protocol (fixed newstyle handshake, simple replies),
//! enough to read and write an export that `qemu-nbd` serves on a Unix
//! socket: how the bytes of a LUN are streamed through QEMU's initiator.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

const INIT_MAGIC: u64 = 0x4e42_444d_4147_4943; // "NBDMAGIC"
const OPT_MAGIC: u64 = 0x4948_4156_454f_5054; // "IHAVEOPT"
const REQUEST_MAGIC: u32 = 0x2560_9513;
const REPLY_MAGIC: u32 = 0x6744_6698;
/// Handshake flags, both ways.
const FIXED_NEWSTYLE: u16 = 1;
const NO_ZEROES: u16 = 2;
const OPT_EXPORT_NAME: u32 = 1;
const CMD_READ: u16 = 0;
const CMD_WRITE: u16 = 1;
const CMD_DISC: u16 = 2;
const CMD_FLUSH: u16 = 3;

#[derive(Debug, thiserror::Error)]
pub(crate) enum NbdError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("the server does not speak fixed newstyle nbd")]
    Handshake,
    #[error("the server answered out of turn")]
    Reply,
    #[error("the server refused a {op} at {offset}: errno {errno}")]
    Refused { op: &'static str, offset: u64, errno: u32 },
}

/// A connection to one export, in transmission.
#[derive(Debug)]
pub(crate) struct Nbd {
    stream: UnixStream,
    size: u64,
    handle: u64,
}

impl Nbd {
    /// Connects to the default export at `socket`.
    pub(crate) async fn connect(socket: &std::path::Path) -> Result<Nbd, NbdError> {
        let mut s = UnixStream::connect(socket).await?;
        if s.read_u64().await? != INIT_MAGIC || s.read_u64().await? != OPT_MAGIC {
            return Err(NbdError::Handshake);
        }
        let flags = s.read_u16().await?;
        if flags & FIXED_NEWSTYLE == 0 {
            return Err(NbdError::Handshake);
        }
        let zeroes = flags & NO_ZEROES == 0;
        let mine = u32::from(FIXED_NEWSTYLE | (flags & NO_ZEROES));
        let mut hello = Vec::with_capacity(20);
        hello.extend_from_slice(&mine.to_be_bytes());
        hello.extend_from_slice(&OPT_MAGIC.to_be_bytes());
        hello.extend_from_slice(&OPT_EXPORT_NAME.to_be_bytes());
        hello.extend_from_slice(&0u32.to_be_bytes()); // the default export: ""
        s.write_all(&hello).await?;
        let size = s.read_u64().await?;
        let _transmission_flags = s.read_u16().await?;
        if zeroes {
            let mut pad = [0u8; 124];
            s.read_exact(&mut pad).await?;
        }
        Ok(Nbd { stream: s, size, handle: 0 })
    }

    /// The export's size in bytes.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    async fn request(&mut self, cmd: u16, offset: u64, len: u32, data: &[u8]) -> Result<(), NbdError> {
        self.handle += 1;
        let mut req = Vec::with_capacity(28 + data.len());
        req.extend_from_slice(&REQUEST_MAGIC.to_be_bytes());
        req.extend_from_slice(&0u16.to_be_bytes());
        req.extend_from_slice(&cmd.to_be_bytes());
        req.extend_from_slice(&self.handle.to_be_bytes());
        req.extend_from_slice(&offset.to_be_bytes());
        req.extend_from_slice(&len.to_be_bytes());
        req.extend_from_slice(data);
        self.stream.write_all(&req).await?;
        Ok(())
    }

    async fn reply(&mut self, op: &'static str, offset: u64) -> Result<(), NbdError> {
        if self.stream.read_u32().await? != REPLY_MAGIC {
            return Err(NbdError::Reply);
        }
        let errno = self.stream.read_u32().await?;
        if self.stream.read_u64().await? != self.handle {
            return Err(NbdError::Reply);
        }
        match errno {
            0 => Ok(()),
            errno => Err(NbdError::Refused { op, offset, errno }),
        }
    }

    /// `len` bytes from `offset`.
    pub(crate) async fn read(&mut self, offset: u64, len: u32) -> Result<Vec<u8>, NbdError> {
        self.request(CMD_READ, offset, len, &[]).await?;
        self.reply("read", offset).await?;
        let mut buf = vec![0u8; len as usize];
        self.stream.read_exact(&mut buf).await?;
        Ok(buf)
    }

    pub(crate) async fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), NbdError> {
        let len = u32::try_from(data.len()).map_err(|_| NbdError::Reply)?;
        self.request(CMD_WRITE, offset, len, data).await?;
        self.reply("write", offset).await
    }

    pub(crate) async fn flush(&mut self) -> Result<(), NbdError> {
        self.request(CMD_FLUSH, 0, 0, &[]).await?;
        self.reply("flush", 0).await
    }

    /// Ends the session (the server answers nothing).
    pub(crate) async fn disconnect(mut self) -> Result<(), NbdError> {
        self.request(CMD_DISC, 0, 0, &[]).await?;
        self.stream.shutdown().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// qemu-nbd serving a file of 1 MiB + 512 bytes.
    #[tokio::test]
    async fn reads_and_writes_what_qemu_nbd_serves() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("disk.img");
        let mut bytes: Vec<u8> = (0..(1u32 << 20) + 512).map(|i| (i % 251) as u8).collect();
        std::fs::write(&file, &bytes).unwrap();
        let sock = tmp.path().join("nbd.sock");
        let mut child = tokio::process::Command::new("qemu-nbd")
            .args(["-f", "raw", "-k"])
            .arg(&sock)
            .arg(&file)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut n = None;
        for _ in 0..1000 {
            if let Ok(c) = Nbd::connect(&sock).await {
                n = Some(c);
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let mut n = n.expect("qemu-nbd did not serve");
        assert_eq!(n.size(), bytes.len() as u64);
        assert_eq!(n.read(1000, 4096).await.unwrap(), bytes[1000..5096]);
        n.write(1 << 20, b"written over nbd").await.unwrap();
        n.flush().await.unwrap();
        let err = n.read(bytes.len() as u64, 512).await.unwrap_err();
        assert!(matches!(err, NbdError::Refused { op: "read", .. }), "{err}");
        n.disconnect().await.unwrap();
        // qemu-nbd ends with its last client.
        assert!(child.wait().await.unwrap().success());
        bytes[1 << 20..(1 << 20) + 16].copy_from_slice(b"written over nbd");
        assert!(std::fs::read(&file).unwrap() == bytes);
    }
}
