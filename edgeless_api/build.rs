//! Compiles `proto/edgeless.proto` with protox, so no system `protoc` is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "proto/edgeless.proto";
    println!("cargo:rerun-if-changed={proto}");
    let descriptors = protox::compile([proto], ["proto"])?;
    // The encoded descriptors, for the gRPC reflection service.
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("edgeless_descriptor.bin"),
        prost::Message::encode_to_vec(&descriptors),
    )?;
    tonic_prost_build::configure()
        // Function code is cloned and forwarded (controller → orchestrator
        // → node) without being copied.
        .bytes(".edgeless_api.FunctionClassSpecification.function_class_code")
        .bytes(".edgeless_api.Event.payload")
        .bytes(".edgeless_api.Code.code")
        .bytes(".edgeless_api.GuestEvent.payload")
        .bytes(".edgeless_api.CallResult.payload")
        .bytes(".edgeless_api.HostSend.payload")
        .bytes(".edgeless_api.HostDelayedCast.payload")
        .compile_fds(descriptors)?;
    Ok(())
}
