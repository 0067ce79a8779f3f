//! Compiles `proto/baseline.proto` with protox (no system `protoc`).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "proto/baseline.proto";
    println!("cargo:rerun-if-changed={proto}");
    let descriptors = protox::compile([proto], ["proto"])?;
    tonic_prost_build::configure()
        .bytes(".edgeless_benchmark.Ping.payload")
        .compile_fds(descriptors)?;
    Ok(())
}
