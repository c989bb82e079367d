//! gRPC straight on a daemon's socket, without the client library's own
//! checks: for calls no well-behaved client would make.

use std::path::Path;

use hyper_util::rt::TokioIo;
use tonic::transport::{Channel, Endpoint};
use virtkit_proto::v1::virtkit_client::VirtkitClient;

/// A channel to a unix socket.
pub async fn channel(sock: &Path) -> Channel {
    let path = sock.to_owned();
    Endpoint::from_static("http://virtkitd")
        .connect_with_connector(tower::service_fn(move |_: tonic::transport::Uri| {
            let p = path.clone();
            async move { Ok::<_, std::io::Error>(TokioIo::new(tokio::net::UnixStream::connect(p).await?)) }
        }))
        .await
        .unwrap()
}

/// The generated client on a unix socket.
pub async fn client(sock: &Path) -> VirtkitClient<Channel> {
    VirtkitClient::new(channel(sock).await)
        .max_decoding_message_size(virtkit_proto::MAX_MESSAGE)
        .max_encoding_message_size(virtkit_proto::MAX_MESSAGE)
}

/// A request for the driver `uri`.
pub fn req<T>(msg: T, uri: &str) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    r.metadata_mut().insert(virtkit_proto::URI_METADATA, uri.parse().unwrap());
    r
}

/// The error kind a status names, if it names one.
pub fn kind(s: &tonic::Status) -> Option<&str> {
    s.metadata().get(virtkit_proto::ERROR_KIND_METADATA).and_then(|v| v.to_str().ok())
}

/// Bytes as they are, for messages no well-behaved client would send.
#[derive(Debug, Clone, Copy, Default)]
pub struct Raw;

impl tonic::codec::Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = Raw;
    type Decoder = Raw;
    fn encoder(&mut self) -> Raw {
        Raw
    }
    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl tonic::codec::Encoder for Raw {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut tonic::codec::EncodeBuf<'_>) -> Result<(), tonic::Status> {
        bytes::BufMut::put_slice(dst, &item);
        Ok(())
    }
}

impl tonic::codec::Decoder for Raw {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn decode(&mut self, src: &mut tonic::codec::DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
        use bytes::Buf;
        let v = src.copy_to_bytes(src.remaining()).to_vec();
        Ok(Some(v))
    }
}

/// One unary call of `method` (`/virtkit.v1.Virtkit/Name`) with `body` as
/// its message, for the driver `uri`.
pub async fn raw_call(ch: Channel, method: &str, body: Vec<u8>, uri: &str) -> Result<Vec<u8>, tonic::Status> {
    let mut g = tonic::client::Grpc::new(ch);
    g.ready().await.unwrap();
    let path = tonic::codegen::http::uri::PathAndQuery::try_from(method).unwrap();
    g.unary(req(body, uri), path, Raw).await.map(tonic::Response::into_inner)
}
