//! What a request that cannot be decoded is answered. tonic says
//! `internal` ("failed to decode Protobuf message"), as if the daemon had
//! failed; it is the client's message that is wrong, so the answer is
//! `invalid-argument` with that error kind, as for any other bad input.

use std::pin::Pin;
use std::task::{Context, Poll};

use tonic::codegen::http;

/// The layer that rewrites those answers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BadMessages;

impl<S> tower::Layer<S> for BadMessages {
    type Service = Rewrite<S>;
    fn layer(&self, inner: S) -> Rewrite<S> {
        Rewrite(inner)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Rewrite<S>(S);

type Answer<B, E> = Pin<Box<dyn Future<Output = Result<http::Response<B>, E>> + Send>>;

impl<S, R, B> tower::Service<http::Request<R>> for Rewrite<S>
where
    S: tower::Service<http::Request<R>, Response = http::Response<B>>,
    S::Future: Send + 'static,
    S::Error: 'static,
    B: 'static,
{
    type Response = http::Response<B>;
    type Error = S::Error;
    type Future = Answer<B, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<R>) -> Self::Future {
        let answer = self.0.call(req);
        Box::pin(async move {
            let mut r = answer.await?;
            rewrite(r.headers_mut());
            Ok(r)
        })
    }
}

/// A trailers-only answer `internal` about decoding becomes
/// `invalid-argument`.
fn rewrite(h: &mut http::HeaderMap) {
    let internal = h.get("grpc-status").is_some_and(|v| v.as_bytes() == b"13");
    let decode = h.get("grpc-message").is_some_and(|v| {
        let m = v.as_bytes();
        m.starts_with(b"failed to decode") || m.starts_with(b"failed%20to%20decode")
    });
    if internal && decode {
        h.insert("grpc-status", http::HeaderValue::from_static("3"));
        h.insert(virtkit_proto::ERROR_KIND_METADATA, http::HeaderValue::from_static("invalid-argument"));
    }
}
