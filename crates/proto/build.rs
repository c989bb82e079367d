//! Compiles proto/virtkit.proto (with protox: no protoc needed), twice:
//! the messages and the server with virtkit's codec (which answers a
//! message that does not decode as the caller's fault), then the client
//! alone, over the same messages, with prost's codec (a reply that does
//! not decode is the daemon's fault, not an argument).

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/virtkit.proto");
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    let fds = protox::compile(["virtkit.proto"], ["proto"])?;
    let server = out.join("server");
    let client = out.join("client");
    std::fs::create_dir_all(&server)?;
    std::fs::create_dir_all(&client)?;
    tonic_prost_build::configure()
        .build_client(false)
        .codec_path("crate::codec::ServerCodec")
        .out_dir(&server)
        .compile_fds(fds.clone())?;
    tonic_prost_build::configure()
        .build_server(false)
        .extern_path(".virtkit.v1", "crate::v1")
        .out_dir(&client)
        .compile_fds(fds)?;
    Ok(())
}
