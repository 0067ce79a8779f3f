//! Identifiers of instances. A physical instance lives on one node; a logical
//! component (as the controller sees it) has a nil node id.

use std::fmt;

use uuid::Uuid;

use crate::proto;

/// An invalid identifier received from a peer or a user.
#[derive(Debug, thiserror::Error)]
pub enum InvalidId {
    /// A required identifier was absent.
    #[error("missing field `{0}`")]
    Missing(&'static str),
    /// A field was not a UUID.
    #[error("field `{field}` is not a UUID: {value:?}")]
    BadUuid {
        /// The name of the field.
        field: &'static str,
        /// The offending value.
        value: String,
    },
}

/// Parses a UUID field, naming the field in the error.
pub fn parse_uuid(field: &'static str, value: &str) -> Result<Uuid, InvalidId> {
    Uuid::parse_str(value).map_err(|_| InvalidId::BadUuid {
        field,
        value: value.to_string(),
    })
}

/// A function or resource instance: the node that runs it and its id there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct InstanceId {
    /// The node hosting the instance (nil for logical ids).
    pub node_id: Uuid,
    /// The component's id.
    pub function_id: Uuid,
}

impl InstanceId {
    /// A new instance id on `node_id` with a fresh random function id.
    pub fn new(node_id: Uuid) -> Self {
        Self {
            node_id,
            function_id: Uuid::new_v4(),
        }
    }

    /// A logical id (no node).
    pub fn logical(function_id: Uuid) -> Self {
        Self {
            node_id: Uuid::nil(),
            function_id,
        }
    }

    /// The sender of events that come from outside the cluster.
    pub fn none() -> Self {
        Self::default()
    }

    /// The 32-byte form used by the WASM guest ABI: node id then function id.
    pub fn to_bytes(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out[..16].copy_from_slice(self.node_id.as_bytes());
        out[16..].copy_from_slice(self.function_id.as_bytes());
        out
    }

    /// The inverse of [`InstanceId::to_bytes`].
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        let mut node = [0u8; 16];
        let mut function = [0u8; 16];
        node.copy_from_slice(&bytes[..16]);
        function.copy_from_slice(&bytes[16..]);
        Self {
            node_id: Uuid::from_bytes(node),
            function_id: Uuid::from_bytes(function),
        }
    }
}

impl From<InstanceId> for proto::BinaryInstanceId {
    fn from(value: InstanceId) -> Self {
        let (node_hi, node_lo) = value.node_id.as_u64_pair();
        let (function_hi, function_lo) = value.function_id.as_u64_pair();
        Self {
            node_hi,
            node_lo,
            function_hi,
            function_lo,
        }
    }
}

impl From<proto::BinaryInstanceId> for InstanceId {
    fn from(value: proto::BinaryInstanceId) -> Self {
        Self {
            node_id: Uuid::from_u64_pair(value.node_hi, value.node_lo),
            function_id: Uuid::from_u64_pair(value.function_hi, value.function_lo),
        }
    }
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.node_id, self.function_id)
    }
}

impl TryFrom<&proto::InstanceId> for InstanceId {
    type Error = InvalidId;

    fn try_from(value: &proto::InstanceId) -> Result<Self, Self::Error> {
        let node_id = if value.node_id.is_empty() {
            Uuid::nil()
        } else {
            parse_uuid("node_id", &value.node_id)?
        };
        Ok(Self {
            node_id,
            function_id: parse_uuid("function_id", &value.function_id)?,
        })
    }
}

impl From<InstanceId> for proto::InstanceId {
    fn from(value: InstanceId) -> Self {
        Self {
            node_id: value.node_id.to_string(),
            function_id: value.function_id.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logical_ids_have_no_node_and_print_as_node_slash_function() {
        let function = Uuid::new_v4();
        let logical = InstanceId::logical(function);
        assert_eq!(logical.node_id, Uuid::nil());
        assert_eq!(logical.function_id, function);
        let node = Uuid::new_v4();
        let id = InstanceId {
            node_id: node,
            function_id: function,
        };
        assert_eq!(id.to_string(), format!("{node}/{function}"));
        assert_eq!(
            InstanceId::none().to_string(),
            format!("{0}/{0}", Uuid::nil())
        );
    }

    #[test]
    fn bytes_round_trip() {
        let id = InstanceId::new(Uuid::new_v4());
        assert_eq!(InstanceId::from_bytes(&id.to_bytes()), id);
    }

    #[test]
    fn proto_round_trip_and_errors() {
        let id = InstanceId::new(Uuid::new_v4());
        let wire: proto::InstanceId = id.into();
        assert_eq!(InstanceId::try_from(&wire).unwrap(), id);
        let bad = proto::InstanceId {
            node_id: "nope".into(),
            function_id: Uuid::new_v4().to_string(),
        };
        let err = InstanceId::try_from(&bad).unwrap_err();
        assert_eq!(err.to_string(), "field `node_id` is not a UUID: \"nope\"");
    }
}
