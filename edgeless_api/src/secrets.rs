//! Keeping secrets out of logs and answers, and comparing them safely.
//!
//! A password in a URL (`redis://:hunter2@host:6379`) or a configuration
//! value whose key names a secret (`password`, `token`, `api_key`, ...)
//! is shown as `****`.

use std::collections::HashMap;

/// What a hidden secret is shown as.
pub const HIDDEN: &str = "****";

/// `url` with the password of its user information hidden:
/// `redis://user:secret@host` → `redis://user:****@host`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return url.to_string();
    };
    let user = match userinfo.split_once(':') {
        Some((user, _password)) => format!("{user}:{HIDDEN}"),
        // A lone user part is often the password (`redis://secret@host`).
        None => HIDDEN.to_string(),
    };
    format!("{scheme}://{user}@{host}{tail}")
}

/// Whether a configuration key names a secret.
pub fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    [
        "password",
        "passwd",
        "secret",
        "token",
        "api_key",
        "apikey",
        "credential",
    ]
    .iter()
    .any(|word| key.contains(word))
}

/// A configuration value as it may be shown: hidden for a secret key, with
/// URL passwords hidden otherwise.
pub fn redact_value(key: &str, value: &str) -> String {
    if is_secret_key(key) {
        HIDDEN.to_string()
    } else {
        redact_url(value)
    }
}

/// Every value of `configuration` as it may be shown.
pub fn redact_configuration(configuration: &mut HashMap<String, String>) {
    for (key, value) in configuration.iter_mut() {
        *value = redact_value(key, value);
    }
}

/// A function's `init-payload` as it may be shown: in `key=value` parts
/// separated by commas (the usual form), the values of secret keys hidden;
/// URL passwords hidden everywhere.
pub fn redact_payload(payload: &str) -> String {
    payload
        .split(',')
        .map(|part| match part.split_once('=') {
            Some((key, value)) => format!("{key}={}", redact_value(key.trim(), value)),
            None => redact_url(part),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// A short, stable name for an internal address, to show to outsiders in
/// its place (the ε-BAL names the backend that served a request with it).
pub fn opaque_label(address: &str) -> String {
    let digest = crate::auth::hash_token(address);
    format!("backend-{}", &digest[..12])
}

/// Compares two secrets in a time that depends on their lengths only.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_passwords_are_hidden() {
        assert_eq!(
            redact_url("redis://user:hunter2@127.0.0.1:6379/0"),
            "redis://user:****@127.0.0.1:6379/0"
        );
        assert_eq!(
            redact_url("redis://:hunter2@host:6379"),
            "redis://:****@host:6379"
        );
        assert_eq!(redact_url("redis://hunter2@host"), "redis://****@host");
        assert_eq!(
            redact_payload("message=hi,api_key=s3cret,url=redis://:pw@h:1"),
            "message=hi,api_key=****,url=redis://:****@h:1"
        );
        assert_eq!(redact_payload("period=500"), "period=500");
        assert_eq!(redact_url("http://host:80/a@b"), "http://host:80/a@b");
        assert_eq!(
            redact_url("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
        assert_eq!(redact_url("not a url"), "not a url");
    }

    #[test]
    fn secret_keys_are_hidden_whole() {
        let mut configuration = HashMap::from([
            ("password".to_string(), "hunter2".to_string()),
            ("API_TOKEN".to_string(), "abc".to_string()),
            ("url".to_string(), "redis://:pw@h:1".to_string()),
            ("key".to_string(), "counter".to_string()),
        ]);
        redact_configuration(&mut configuration);
        assert_eq!(configuration["password"], HIDDEN);
        assert_eq!(configuration["API_TOKEN"], HIDDEN);
        assert_eq!(configuration["url"], "redis://:****@h:1");
        // A Redis key name is no secret.
        assert_eq!(configuration["key"], "counter");
    }

    #[test]
    fn secrets_compare_by_content() {
        assert!(constant_time_eq(b"token", b"token"));
        assert!(!constant_time_eq(b"token", b"tokem"));
        assert!(!constant_time_eq(b"token", b"token "));
        assert!(!constant_time_eq(b"", b"x"));
        // Differences must not cancel each other out.
        assert!(!constant_time_eq(b"ab", b"ba"));
        assert!(constant_time_eq(b"", b""));
    }
}
