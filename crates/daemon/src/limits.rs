//! What one client may hold, whoever it is: calls in flight, reply bytes
//! not yet sent, and for how long it may sit idle. Each connection has its
//! own [`Client`]; a tower layer ([`CallLimitLayer`]) counts every call
//! against it from before its request is read until its reply has been
//! handed to the connection, so a client that stops reading stops only
//! itself, and what it holds is bounded.
//!
//! A call takes one of `calls` places until its reply is ready to send (a
//! stream gives its place back as soon as it waits for something to send).
//! Each reply frame then takes its size in bytes of the client's reply
//! budget (all of it, for a frame larger than the whole budget) and is fed
//! to HTTP/2 in pieces of [`CHUNK`] bytes; the bytes come back once the
//! last piece has been taken, which HTTP/2 does only as the client reads.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::{AcquireError, OwnedSemaphorePermit, Semaphore};

/// The pieces a reply frame is fed to HTTP/2 in.
pub(crate) const CHUNK: usize = 64 << 10;

/// The per-client settings (see config.rs for their defaults).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PerClient {
    pub(crate) calls: usize,
    pub(crate) reply_bytes: usize,
    pub(crate) idle: Option<Duration>,
}

/// One client's places and budget, and when it was last busy.
#[derive(Debug)]
pub(crate) struct Client {
    calls: Arc<Semaphore>,
    reply: Arc<Semaphore>,
    reply_max: u32,
    /// Calls and streams open now.
    busy: AtomicUsize,
    /// When the last one ended, in milliseconds since `epoch`.
    last: AtomicU64,
    epoch: Instant,
    pub(crate) idle: Option<Duration>,
}

impl Client {
    pub(crate) fn new(s: PerClient) -> Arc<Client> {
        let reply_max = u32::try_from(s.reply_bytes).unwrap_or(u32::MAX);
        Arc::new(Client {
            calls: Arc::new(Semaphore::new(s.calls)),
            reply: Arc::new(Semaphore::new(reply_max as usize)),
            reply_max,
            busy: AtomicUsize::new(0),
            last: AtomicU64::new(0),
            epoch: Instant::now(),
            idle: s.idle,
        })
    }

    /// How long the client has had no call or stream open; `None` while
    /// it has one.
    pub(crate) fn idle_for(&self) -> Option<Duration> {
        if self.busy.load(Ordering::SeqCst) > 0 {
            return None;
        }
        let last = Duration::from_millis(self.last.load(Ordering::SeqCst));
        Some(self.epoch.elapsed().saturating_sub(last))
    }

    fn busy(self: &Arc<Self>) -> Busy {
        self.busy.fetch_add(1, Ordering::SeqCst);
        Busy(self.clone())
    }
}

/// A call or stream open: the client is not idle while one lives.
#[derive(Debug)]
struct Busy(Arc<Client>);

impl Drop for Busy {
    fn drop(&mut self) {
        let now = u64::try_from(self.0.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.0.last.store(now, Ordering::SeqCst);
        self.0.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Counts each call against its client (the [`Client`] in the
/// request's [`crate::listen::Peer`]).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CallLimitLayer;

impl<S> tower::Layer<S> for CallLimitLayer {
    type Service = CallLimit<S>;
    fn layer(&self, inner: S) -> CallLimit<S> {
        CallLimit { inner }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct CallLimit<S> {
    inner: S,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, ReqBody, ResBody> tower::Service<http::Request<ReqBody>> for CallLimit<S>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    ReqBody: Send + 'static,
{
    type Response = http::Response<Limited<ResBody>>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<ReqBody>) -> Self::Future {
        // The clone is the one not yet polled ready: keep the ready one.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let client = req.extensions().get::<crate::listen::Peer>().map(|p| p.client.clone());
        Box::pin(async move {
            let Some(client) = client else {
                return Ok(inner.call(req).await?.map(|b| Limited::new(b, None, None, None)));
            };
            let busy = client.busy();
            // The semaphore is never closed; without a place (cannot
            // happen) the call would run uncounted rather than fail.
            let place = client.calls.clone().acquire_owned().await.ok();
            let resp = inner.call(req).await?;
            Ok(resp.map(|b| Limited::new(b, Some(client), place, Some(busy))))
        })
    }
}

/// A reply body that holds its call's place until it has something to
/// send, and its frames' bytes of the client's budget until they are taken.
pub(crate) struct Limited<B> {
    inner: B,
    client: Option<Arc<Client>>,
    place: Option<OwnedSemaphorePermit>,
    /// The budget of the frame being fed, and what is left of it.
    held: Option<OwnedSemaphorePermit>,
    rest: Bytes,
    /// A frame waiting for budget.
    waiting: Option<(Bytes, BoxFuture<Result<OwnedSemaphorePermit, AcquireError>>)>,
    _busy: Option<Busy>,
}

impl<B> std::fmt::Debug for Limited<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limited").field("rest", &self.rest.len()).finish_non_exhaustive()
    }
}

impl<B> Limited<B> {
    fn new(inner: B, client: Option<Arc<Client>>, place: Option<OwnedSemaphorePermit>, busy: Option<Busy>) -> Self {
        Limited { inner, client, place, held: None, rest: Bytes::new(), waiting: None, _busy: busy }
    }

    fn next_chunk(&mut self) -> Bytes {
        let n = self.rest.len().min(CHUNK);
        self.rest.split_to(n)
    }
}

impl<B> Body for Limited<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = &mut *self;
        loop {
            if !this.rest.is_empty() {
                return Poll::Ready(Some(Ok(Frame::data(this.next_chunk()))));
            }
            // Every piece of the last frame was taken: its bytes come back.
            this.held = None;
            if let Some((_, acquire)) = &mut this.waiting {
                let permit = match acquire.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(p) => p.ok(),
                };
                if let Some((data, _)) = this.waiting.take() {
                    this.held = permit;
                    this.rest = data;
                }
                continue;
            }
            let frame = match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Pending => {
                    // Nothing to send yet (a stream waiting for events):
                    // the call's place is free for another call.
                    this.place = None;
                    return Poll::Pending;
                }
                Poll::Ready(None) => {
                    this.place = None;
                    return Poll::Ready(None);
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(Some(Ok(f))) => f,
            };
            let data = match frame.into_data() {
                Ok(d) => d,
                Err(other) => return Poll::Ready(Some(Ok(other))),
            };
            let Some(client) = &this.client else {
                return Poll::Ready(Some(Ok(Frame::data(data))));
            };
            let need = u32::try_from(data.len()).unwrap_or(u32::MAX).min(client.reply_max);
            match client.reply.clone().try_acquire_many_owned(need) {
                Ok(p) => {
                    this.held = Some(p);
                    this.rest = data;
                }
                Err(_) => {
                    let acquire = Box::pin(client.reply.clone().acquire_many_owned(need));
                    this.waiting = Some((data, acquire));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_empty() && self.waiting.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body of the given frames, then `Pending` forever when `stream`.
    struct Frames(Vec<Bytes>, bool);

    impl Body for Frames {
        type Data = Bytes;
        type Error = std::convert::Infallible;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            if self.0.is_empty() {
                return if self.1 { Poll::Pending } else { Poll::Ready(None) };
            }
            Poll::Ready(Some(Ok(Frame::data(self.0.remove(0)))))
        }
    }

    fn client(calls: usize, reply_bytes: usize) -> Arc<Client> {
        Client::new(PerClient { calls, reply_bytes, idle: None })
    }

    async fn frame<B: Body<Data = Bytes> + Unpin>(b: &mut Limited<B>) -> Option<usize>
    where
        B::Error: std::fmt::Debug,
    {
        std::future::poll_fn(|cx| Pin::new(&mut *b).poll_frame(cx))
            .await
            .map(|f| f.unwrap_or_else(|e| panic!("{e:?}")).into_data().unwrap_or_else(|_| panic!("not data")).len())
    }

    #[tokio::test]
    async fn a_frame_holds_its_bytes_until_its_last_piece_is_taken() {
        let c = client(1, 100 << 10);
        let big = Bytes::from(vec![0u8; 150 << 10]);
        let mut b = Limited::new(Frames(vec![big, Bytes::from_static(b"x")], false), Some(c.clone()), None, None);
        assert_eq!(frame(&mut b).await, Some(CHUNK));
        // Larger than the whole budget: takes all of it.
        assert_eq!(c.reply.available_permits(), 0);
        assert_eq!(frame(&mut b).await, Some(CHUNK));
        assert_eq!(frame(&mut b).await, Some((150 << 10) - 2 * CHUNK));
        assert_eq!(c.reply.available_permits(), 0);
        assert_eq!(frame(&mut b).await, Some(1));
        assert_eq!(c.reply.available_permits(), (100 << 10) - 1);
        assert_eq!(frame(&mut b).await, None);
        assert_eq!(c.reply.available_permits(), 100 << 10);
    }

    #[tokio::test]
    async fn a_reply_waits_for_budget_others_hold() {
        let c = client(2, 10);
        let mut first =
            Limited::new(Frames(vec![Bytes::from_static(b"0123456789")], true), Some(c.clone()), None, None);
        assert_eq!(frame(&mut first).await, Some(10));
        let mut second = Limited::new(Frames(vec![Bytes::from_static(b"abc")], false), Some(c.clone()), None, None);
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        assert!(Pin::new(&mut second).poll_frame(&mut cx).is_pending());
        // The first one's frame is taken whole (it then waits): the bytes come back.
        assert!(Pin::new(&mut first).poll_frame(&mut cx).is_pending());
        assert_eq!(frame(&mut second).await, Some(3));
    }

    #[tokio::test]
    async fn a_waiting_stream_gives_its_call_place_back() {
        let c = client(1, 1 << 20);
        let place = c.calls.clone().try_acquire_owned().unwrap_or_else(|e| panic!("{e}"));
        let busy = c.busy();
        assert!(c.idle_for().is_none());
        let mut b = Limited::new(Frames(vec![], true), Some(c.clone()), Some(place), Some(busy));
        let waker = std::task::Waker::noop();
        assert!(Pin::new(&mut b).poll_frame(&mut Context::from_waker(waker)).is_pending());
        assert_eq!(c.calls.available_permits(), 1);
        // Still busy while the stream is open; idle once it is gone.
        assert!(c.idle_for().is_none());
        drop(b);
        assert!(c.idle_for().is_some_and(|d| d < Duration::from_secs(5)));
    }
}
