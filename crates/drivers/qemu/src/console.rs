//! Consoles on a pty.

/// A pty, read and written at once without blocking threads (tokio's
/// `File` cannot write while a read is pending).
pub(crate) struct PtyConsole {
    pub(crate) rx: tokio::net::unix::pipe::Receiver,
    pub(crate) tx: tokio::net::unix::pipe::Sender,
}

impl tokio::io::AsyncRead for PtyConsole {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.rx).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for PtyConsole {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.tx).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.tx).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.tx).poll_shutdown(cx)
    }
}
