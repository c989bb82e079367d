//! Compiles proto/virtkit.proto (with protox: no protoc needed).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/virtkit.proto");
    let fds = protox::compile(["virtkit.proto"], ["proto"])?;
    tonic_prost_build::configure().compile_fds(fds)?;
    Ok(())
}
