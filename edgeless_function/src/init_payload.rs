//! Helpers for `init-payload` annotations of the form `key1=value1,key2=value2`.

use std::collections::HashMap;

/// Parses `key1=value1,key2=value2`; tokens without `=` are skipped and
/// surrounding whitespace is trimmed.
pub fn parse_init_payload(payload: &str) -> HashMap<String, String> {
    payload
        .split(',')
        .filter_map(|token| token.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .filter(|(k, _)| !k.is_empty())
        .collect()
}

/// Parses the payload handed to `handle_init` (empty map when absent or not UTF-8).
pub fn init_payload_to_args(payload: Option<&[u8]>) -> HashMap<String, String> {
    payload
        .and_then(|p| core::str::from_utf8(p).ok())
        .map(parse_init_payload)
        .unwrap_or_default()
}

/// True when `key` is present with the value `true` (any case).
pub fn arg_to_bool(key: &str, args: &HashMap<String, String>) -> bool {
    args.get(key)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pairs_and_skips_junk() {
        let args = parse_init_payload("period=100, message = hi ,junk,=x,flag=TRUE");
        assert_eq!(args.len(), 3);
        assert_eq!(args["period"], "100");
        assert_eq!(args["message"], "hi");
        assert!(arg_to_bool("flag", &args));
        assert!(!arg_to_bool("missing", &args));
    }

    #[test]
    fn absent_or_binary_payloads_give_no_args() {
        assert!(init_payload_to_args(None).is_empty());
        assert!(init_payload_to_args(Some(&[0xff, 0xfe])).is_empty());
    }
}
