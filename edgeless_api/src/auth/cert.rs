//! The identity in a peer's certificate: role in the subject's
//! organizational unit, name in its common name, tenant in its organization.
//!
//! The certificate has already been verified against the cluster CA by the
//! TLS handshake; this reads three attributes of its subject with a small
//! bounds-checked DER reader (a malformed certificate yields `None`).

use super::{DEFAULT_TENANT, Identity, Role};

const COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
const ORGANIZATION: &[u8] = &[0x55, 0x04, 0x0a];
const ORGANIZATIONAL_UNIT: &[u8] = &[0x55, 0x04, 0x0b];

/// The identity a DER certificate names, if it names one. A certificate
/// without a role (organizational unit) gets the role its name implies.
pub fn identity(der: &[u8]) -> Option<Identity> {
    let (mut name, mut role, mut tenant) = (None, None, None);
    for (oid, value) in subject_attributes(der)? {
        let value = std::str::from_utf8(value).ok()?;
        match oid {
            COMMON_NAME => name = Some(value.to_string()),
            ORGANIZATION => tenant = Some(value.to_string()),
            ORGANIZATIONAL_UNIT => role = Some(value.parse::<Role>().ok()?),
            _ => {}
        }
    }
    let name = name.filter(|n| !n.is_empty())?;
    Some(Identity {
        role: role.unwrap_or_else(|| Role::implied_by(&name)),
        name,
        tenant: tenant.unwrap_or_else(|| DEFAULT_TENANT.to_string()),
    })
}

/// One DER element: tag, contents, and what follows it.
fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (length, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let count = (first & 0x7f) as usize;
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let length = rest[..count]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | b as usize);
        (length, &rest[count..])
    };
    if rest.len() < length {
        return None;
    }
    Some((tag, &rest[..length], &rest[length..]))
}

/// The elements of a constructed element's contents.
fn children(mut contents: &[u8]) -> Option<Vec<(u8, &[u8])>> {
    let mut out = Vec::new();
    while !contents.is_empty() {
        let (tag, value, rest) = element(contents)?;
        out.push((tag, value));
        contents = rest;
    }
    Some(out)
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
const VERSION: u8 = 0xa0;

/// (attribute OID, value bytes) of the certificate's subject.
fn subject_attributes(der: &[u8]) -> Option<Vec<(&[u8], &[u8])>> {
    let (SEQUENCE, certificate, _) = element(der)? else {
        return None;
    };
    let (SEQUENCE, tbs, _) = element(certificate)? else {
        return None;
    };
    let mut fields = children(tbs)?.into_iter().peekable();
    if fields.peek().is_some_and(|(tag, _)| *tag == VERSION) {
        fields.next();
    }
    // serial number, signature algorithm, issuer, validity, subject
    let (tag, subject) = fields.nth(4)?;
    if tag != SEQUENCE {
        return None;
    }
    let mut attributes = Vec::new();
    for (tag, rdn) in children(subject)? {
        if tag != SET {
            return None;
        }
        for (tag, pair) in children(rdn)? {
            let parts = children(pair)?;
            match (tag, parts.as_slice()) {
                (SEQUENCE, [(OID, oid), (_, value)]) => attributes.push((*oid, *value)),
                _ => return None,
            }
        }
    }
    Some(attributes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DnType, KeyPair};

    fn certificate(attributes: &[(DnType, &str)]) -> Vec<u8> {
        let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        for (kind, value) in attributes {
            params.distinguished_name.push(kind.clone(), *value);
        }
        let key = KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn der_lengths_in_short_and_long_form_are_read_and_bounded() {
        // Short form: up to 127 bytes.
        let short = [0x04, 0x7f]
            .into_iter()
            .chain([1u8; 127])
            .chain([9])
            .collect::<Vec<_>>();
        let (tag, contents, rest) = element(&short).unwrap();
        assert_eq!((tag, contents.len(), rest), (0x04, 127, &[9u8][..]));
        // Long form: 0x81 then one length byte, 0x82 then two.
        let long = [0x04, 0x81, 0x80]
            .into_iter()
            .chain([1u8; 128])
            .collect::<Vec<_>>();
        assert_eq!(element(&long).unwrap().1.len(), 128);
        let longer = [0x04, 0x82, 0x01, 0x00]
            .into_iter()
            .chain([1u8; 256])
            .collect::<Vec<_>>();
        assert_eq!(element(&longer).unwrap().1.len(), 256);
        // Truncated contents, an indefinite length, more than four length
        // bytes, and missing length bytes are refused.
        assert!(element(&[0x04, 0x02, 1]).is_none());
        assert!(element(&[0x04, 0x80, 1]).is_none());
        assert!(element(&[0x04, 0x85, 0, 0, 0, 0, 1, 1]).is_none());
        assert!(element(&[0x04, 0x82, 0x01]).is_none());
        // 0x80 (an indefinite length) is no length of 128, even with 128
        // bytes after it; a long length may end exactly where the input does.
        let indefinite = [0x04, 0x80]
            .into_iter()
            .chain([1u8; 128])
            .collect::<Vec<_>>();
        assert!(element(&indefinite).is_none());
        assert_eq!(element(&[0x04, 0x81, 0x00]), Some((0x04, &[][..], &[][..])));
        // Exactly four length bytes are read.
        let four = [0x04, 0x84, 0, 0, 0, 1, 7];
        assert_eq!(element(&four).unwrap().1, &[7u8][..]);
        assert!(element(&[]).is_none() && element(&[0x04]).is_none());
    }

    #[test]
    fn reads_role_name_and_tenant() {
        let der = certificate(&[
            (DnType::CommonName, "alice"),
            (DnType::OrganizationalUnitName, "admin"),
            (DnType::OrganizationName, "acme"),
        ]);
        assert_eq!(
            identity(&der),
            Some(Identity {
                role: Role::Admin,
                name: "alice".into(),
                tenant: "acme".into()
            })
        );
    }

    #[test]
    fn a_certificate_without_role_gets_the_role_of_its_name() {
        let node = identity(&certificate(&[(DnType::CommonName, "node3")])).unwrap();
        assert_eq!((node.role, node.tenant.as_str()), (Role::Node, "default"));
        let cli = identity(&certificate(&[(DnType::CommonName, "cli")])).unwrap();
        assert_eq!(cli.role, Role::Client);
    }

    #[test]
    fn malformed_or_nameless_certificates_name_nobody() {
        let der = certificate(&[(DnType::CommonName, "node3")]);
        for cut in [0, 1, 2, 10, der.len() / 2, der.len() - 1] {
            let _ = identity(&der[..cut]);
        }
        assert_eq!(identity(&[]), None);
        assert_eq!(identity(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
        let unknown_role = certificate(&[
            (DnType::CommonName, "x"),
            (DnType::OrganizationalUnitName, "root"),
        ]);
        assert_eq!(identity(&unknown_role), None);
        assert_eq!(
            identity(&certificate(&[(DnType::OrganizationName, "acme")])),
            None
        );
    }
}
