//! Helpers for `init-payload` annotations of the form `key1=value1,key2=value2`.
//! The maps borrow from the payload: `args.get("k").unwrap_or(&"default")`.

use std::collections::HashMap;

/// Parses `key1=value1,key2=value2`; tokens without `=` are skipped (and
/// logged) and surrounding whitespace is trimmed.
pub fn parse_init_payload(payload: &str) -> HashMap<&str, &str> {
    payload
        .split(',')
        .filter(|token| !token.trim().is_empty())
        .filter_map(|token| {
            let pair = token.split_once('=');
            if pair.is_none() {
                log::warn!("init-payload: `{token}` is not key=value; skipped");
            }
            pair
        })
        .map(|(k, v)| (k.trim(), v.trim()))
        .filter(|(k, _)| !k.is_empty())
        .collect()
}

/// Parses the payload handed to `handle_init` (empty map when absent or not UTF-8).
pub fn init_payload_to_args(payload: Option<&[u8]>) -> HashMap<&str, &str> {
    payload
        .and_then(|p| core::str::from_utf8(p).ok())
        .map(parse_init_payload)
        .unwrap_or_default()
}

/// True when `key` is present with the value `true` (any case).
pub fn arg_to_bool(key: &str, args: &HashMap<&str, &str>) -> bool {
    args.get(key)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// The items of `key`'s value split at `separator` and parsed; items that
/// do not parse are skipped. Empty when `key` is absent.
pub fn arg_to_vec<T: core::str::FromStr>(
    key: &str,
    separator: &str,
    args: &HashMap<&str, &str>,
) -> Vec<T> {
    args.get(key)
        .map(|value| {
            value
                .split(separator)
                .filter_map(|item| item.trim().parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pairs_and_skips_junk() {
        let args = parse_init_payload("period=100, message = hi ,junk,=x,flag=TRUE");
        assert_eq!(args.len(), 3);
        assert_eq!(args["period"], "100");
        assert_eq!(*args.get("message").unwrap_or(&"none"), "hi");
        assert_eq!(*args.get("absent").unwrap_or(&"none"), "none");
        assert!(arg_to_bool("flag", &args));
        assert!(!arg_to_bool("missing", &args));
    }

    #[test]
    fn lists_parse_item_by_item() {
        let args = parse_init_payload("sizes=1:2:x:4,empty=");
        assert_eq!(arg_to_vec::<u32>("sizes", ":", &args), vec![1, 2, 4]);
        assert!(arg_to_vec::<u32>("empty", ":", &args).is_empty());
        assert!(arg_to_vec::<u32>("missing", ":", &args).is_empty());
    }

    #[test]
    fn absent_or_binary_payloads_give_no_args() {
        assert!(init_payload_to_args(None).is_empty());
        assert!(init_payload_to_args(Some(&[0xff, 0xfe])).is_empty());
    }
}
