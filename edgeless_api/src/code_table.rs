//! WASM code sent once per request, however many functions run it.
//!
//! A request that starts many functions of the same class (a workflow of a
//! thousand functions, an orchestrator's `StartAll`) carries each distinct
//! code once, in a table keyed by its SHA-256 (hex); each function's class
//! names the code by that key and leaves `function_class_code` empty.
//! [`pack`] builds the table on the sending side, [`unpack`] checks it and
//! puts the code back on the receiving side (every key is checked against
//! its code there: the table is untrusted input).

use std::collections::HashMap;

use bytes::Bytes;

use crate::proto::{Code, FunctionClassSpecification, StartRequest, StartRequests};

/// How a node begins its refusal of a start that names code it does not
/// have (FAILED_PRECONDITION): the sender then sends the code.
pub const UNKNOWN_CODE: &str = "unknown code";

/// The classes of the functions among `starts`.
fn start_classes(
    starts: &mut [StartRequest],
) -> impl Iterator<Item = &mut FunctionClassSpecification> {
    use crate::proto::start_request::Component;
    starts
        .iter_mut()
        .filter_map(|start| match &mut start.component {
            Some(Component::Function(spec)) => spec.code.as_mut(),
            _ => None,
        })
}

/// [`pack`] for an orchestrator's `StartAll` request.
pub fn pack_starts(requests: &mut StartRequests) {
    requests.codes = pack(start_classes(&mut requests.starts));
}

/// [`unpack`] for an orchestrator's `StartAll` request (its table is
/// emptied).
pub fn unpack_starts(requests: &mut StartRequests) -> Result<(), String> {
    let table = std::mem::take(&mut requests.codes);
    unpack(start_classes(&mut requests.starts), &table)
}

/// The SHA-256 of `code`, in hex.
pub fn key(code: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(code)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Moves the code of every WASM class in `classes` into the returned table,
/// leaving each class its key. Code shared by several classes (the same
/// buffer) is hashed once.
pub fn pack<'a>(
    classes: impl IntoIterator<Item = &'a mut FunctionClassSpecification>,
) -> Vec<Code> {
    let mut table: HashMap<String, Bytes> = HashMap::new();
    // Keys by buffer, so that code read once is hashed once.
    let mut seen: HashMap<(usize, usize), String> = HashMap::new();
    for class in classes {
        if class.function_class_type != crate::RUST_WASM || class.function_class_code.is_empty() {
            continue;
        }
        let code = std::mem::take(&mut class.function_class_code);
        let buffer = (code.as_ptr() as usize, code.len());
        let key = match seen.get(&buffer) {
            Some(key) => key.clone(),
            None => {
                let key = key(&code);
                seen.insert(buffer, key.clone());
                key
            }
        };
        class.function_class_code_key = key.clone();
        table.entry(key).or_insert(code);
    }
    table
        .into_iter()
        .map(|(key, code)| Code { key, code })
        .collect()
}

/// Puts the code of `table` back into every class in `classes` that names
/// its code by key and carries none. Fails, naming the key, when a key of
/// the table does not match its code or a class names a key the table does
/// not hold.
pub fn unpack<'a>(
    classes: impl IntoIterator<Item = &'a mut FunctionClassSpecification>,
    table: &[Code],
) -> Result<(), String> {
    let mut by_key = HashMap::with_capacity(table.len());
    for Code { key: named, code } in table {
        if key(code) != *named {
            return Err(format!(
                "the code under key {named} does not have that SHA-256"
            ));
        }
        by_key.insert(named.as_str(), code);
    }
    for class in classes {
        if !class.function_class_code.is_empty() || class.function_class_code_key.is_empty() {
            continue;
        }
        match by_key.get(class.function_class_code_key.as_str()) {
            Some(code) => class.function_class_code = (*code).clone(),
            None => {
                return Err(format!(
                    "class `{}` names code {} that the request does not carry",
                    class.function_class_id, class.function_class_code_key
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wasm(id: &str, code: &Bytes) -> FunctionClassSpecification {
        FunctionClassSpecification {
            function_class_id: id.into(),
            function_class_type: crate::RUST_WASM.into(),
            function_class_code: code.clone(),
            ..Default::default()
        }
    }

    #[test]
    fn shared_code_travels_once_and_comes_back_to_every_class() {
        let code = Bytes::from_static(b"\0asm module");
        let other = Bytes::from_static(b"\0asm other");
        let mut container = FunctionClassSpecification {
            function_class_type: "CONTAINER".into(),
            function_class_code: Bytes::from_static(b"image:tag"),
            ..Default::default()
        };
        let mut classes = [wasm("a", &code), wasm("b", &code), wasm("c", &other)];
        let table = pack(classes.iter_mut().chain([&mut container]));
        assert_eq!(table.len(), 2);
        assert!(classes.iter().all(|c| c.function_class_code.is_empty()));
        assert_eq!(classes[0].function_class_code_key, key(&code));
        assert_eq!(
            container.function_class_code,
            Bytes::from_static(b"image:tag")
        );
        unpack(classes.iter_mut(), &table).unwrap();
        assert_eq!(classes[1].function_class_code, code);
        assert_eq!(classes[2].function_class_code, other);
    }

    #[test]
    fn a_wrong_key_or_a_missing_code_is_refused() {
        let code = Bytes::from_static(b"\0asm module");
        let forged = vec![Code {
            key: key(b"something else"),
            code: code.clone(),
        }];
        let mut classes = [wasm("a", &Bytes::new())];
        classes[0].function_class_code_key = key(b"something else");
        let error = unpack(classes.iter_mut(), &forged).unwrap_err();
        assert!(error.contains("does not have that SHA-256"), "{error}");
        let error = unpack(classes.iter_mut(), &[]).unwrap_err();
        assert!(error.contains("class `a` names code"), "{error}");
    }
}
