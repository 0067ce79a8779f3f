//! Events carried by the dataplane.

use bytes::Bytes;

use crate::{InstanceId, InvalidId, proto};

/// What an event asks of its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// One-way message.
    Cast,
    /// A request that expects a reply with the same stream id.
    Call,
    /// The reply to a call, with a payload.
    CallRet,
    /// The reply to a call that has no payload.
    CallNoRet,
    /// The call failed (the payload says why).
    Err,
}

/// One event from `source` to `target`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Receiver.
    pub target: InstanceId,
    /// Sender (replies go here).
    pub source: InstanceId,
    /// Correlates calls and replies; 0 for casts.
    pub stream_id: u64,
    /// What the event asks.
    pub kind: EventKind,
    /// Application bytes.
    pub payload: Bytes,
}

impl Event {
    /// Is this the answer to a call?
    pub fn is_reply(&self) -> bool {
        matches!(
            self.kind,
            EventKind::CallRet | EventKind::CallNoRet | EventKind::Err
        )
    }
}

impl From<EventKind> for proto::EventType {
    fn from(kind: EventKind) -> Self {
        match kind {
            EventKind::Cast => Self::Cast,
            EventKind::Call => Self::Call,
            EventKind::CallRet => Self::CallRet,
            EventKind::CallNoRet => Self::CallNoRet,
            EventKind::Err => Self::Err,
        }
    }
}

impl TryFrom<proto::Event> for Event {
    type Error = InvalidId;

    fn try_from(value: proto::Event) -> Result<Self, Self::Error> {
        let kind = match proto::EventType::try_from(value.event_type) {
            Ok(proto::EventType::Cast) => EventKind::Cast,
            Ok(proto::EventType::Call) => EventKind::Call,
            Ok(proto::EventType::CallRet) => EventKind::CallRet,
            Ok(proto::EventType::CallNoRet) => EventKind::CallNoRet,
            Ok(proto::EventType::Err) | Err(_) => EventKind::Err,
        };
        let target = if let Some(target) = value.target_bin {
            target.into()
        } else {
            value
                .target
                .as_ref()
                .ok_or(InvalidId::Missing("target"))?
                .try_into()?
        };
        let source = if let Some(source) = value.source_bin {
            source.into()
        } else {
            match value.source.as_ref() {
                Some(source) => source.try_into()?,
                None => InstanceId::none(),
            }
        };
        Ok(Self {
            target,
            source,
            stream_id: value.stream_id,
            kind,
            payload: value.payload,
        })
    }
}

impl From<Event> for proto::Event {
    fn from(value: Event) -> Self {
        Self {
            target: None,
            source: None,
            stream_id: value.stream_id,
            event_type: proto::EventType::from(value.kind) as i32,
            payload: value.payload,
            target_bin: Some(value.target.into()),
            source_bin: Some(value.source.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn event_round_trip() {
        let event = Event {
            target: InstanceId::new(Uuid::new_v4()),
            source: InstanceId::new(Uuid::new_v4()),
            stream_id: 7,
            kind: EventKind::Call,
            payload: Bytes::from_static(b"\xff\x00binary"),
        };
        let wire: proto::Event = event.clone().into();
        assert_eq!(Event::try_from(wire).unwrap(), event);
    }

    #[test]
    fn events_travel_with_binary_ids_and_string_ids_are_still_read() {
        let event = Event {
            target: InstanceId::new(Uuid::new_v4()),
            source: InstanceId::new(Uuid::new_v4()),
            stream_id: 0,
            kind: EventKind::Cast,
            payload: Bytes::new(),
        };
        let wire: proto::Event = event.clone().into();
        assert!(wire.target.is_none() && wire.source.is_none());
        assert_eq!(
            InstanceId::from(wire.target_bin.unwrap()),
            event.target,
            "binary target"
        );
        // What the CLI and older senders send.
        let text = proto::Event {
            target: Some(event.target.into()),
            source: Some(event.source.into()),
            event_type: proto::EventType::Cast as i32,
            ..Default::default()
        };
        assert_eq!(Event::try_from(text).unwrap(), event);
    }

    #[test]
    fn event_without_target_is_rejected() {
        let wire = proto::Event::default();
        assert_eq!(
            Event::try_from(wire).unwrap_err().to_string(),
            "missing field `target`"
        );
    }
}
