//! A function in the style of the original EDGELESS SDK: a glob import,
//! `()`-typed sends in `match` arms, borrowed init-payload maps, replies as
//! `OwnedByteBuff`, the `lcg` module and the `logging`/`output_api` paths.
//! Two instances talk: the `starter` calls and casts its `peer`, the
//! `responder` answers; each step is logged for the compatibility test.
use edgeless_function::*;

struct CompatProbe;

impl EdgeFunction for CompatProbe {
    fn handle_cast(src: InstanceId, encoded_message: &[u8]) {
        let message = core::str::from_utf8(encoded_message).unwrap_or("?");
        match message {
            "start" => delayed_cast(100, "self", b"go"),
            "go" => {
                match call("peer", b"question") {
                    CallRet::Reply(answer) => log::info!(
                        "compat: reply {}",
                        core::str::from_utf8(&answer).unwrap_or("?")
                    ),
                    CallRet::NoReply => log::warn!("compat: no reply"),
                    CallRet::Err => log::error!("compat: call failed"),
                }
                cast("peer", b"note")
            }
            "note" => cast_raw(src, b"thanks"),
            "thanks" => {
                log::info!("compat: thanks from the peer");
                if let CallRet::Reply(answer) = call_raw(src, b"direct question") {
                    log::info!("compat: raw reply {}", String::from_utf8_lossy(&answer));
                }
            }
            _ => output_api::telemetry_log(2, "compat", "unexpected message"),
        }
    }

    fn handle_call(_src: InstanceId, encoded_message: &[u8]) -> CallRet {
        let question = core::str::from_utf8(encoded_message).unwrap_or("?");
        let answer = format!("answer to {question}");
        CallRet::Reply(OwnedByteBuff::new_from_slice(answer.as_bytes()))
    }

    fn handle_init(payload: Option<&[u8]>, serialized_state: Option<&[u8]>) {
        logging::init_logger();
        let args = init_payload_to_args(payload);
        let role = *args.get("role").unwrap_or(&"responder");
        let sizes: Vec<u32> = arg_to_vec("sizes", ":", &args);
        let verbose = arg_to_bool("verbose", &args);
        let mut generator = lcg::Lcg::new(7);
        let matrix = lcg::random_matrix(&mut generator, 2);
        let vector = lcg::random_vector(&mut generator, 3);
        let in_range = matrix.iter().chain(&vector).all(|x| (0.0..1.0).contains(x));
        let parsed = parse_init_payload("a=1,b=2");
        log::info!(
            "compat: {role} sizes {sizes:?} verbose {verbose} matrix {} in range {in_range} level {}",
            matrix.len(),
            logging::rust_to_api(log::Level::Warn)
        );
        telemetry_log(3, "compat", &format!("compat: I am {}", slf()));
        log::info!("compat: parsed {} pairs", parsed.len());
        sync(role.as_bytes());
        if let Some(state) = serialized_state {
            log::info!("compat: restored {}", String::from_utf8_lossy(state));
        }
        if role == "starter" {
            cast("self", b"start");
        }
    }

    fn handle_stop() {
        log::info!("compat: stopped");
    }
}

export!(CompatProbe);
