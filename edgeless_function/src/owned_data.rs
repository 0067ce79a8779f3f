//! [`OwnedByteBuff`]: the bytes of a call's reply, owned by the function.

/// Bytes owned by the function, e.g. the reply of a call
/// (`CallRet::Reply(OwnedByteBuff::new_from_slice(b"..."))`). Reads as a
/// `[u8]`; converts from and into a `Vec<u8>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct OwnedByteBuff(Vec<u8>);

impl OwnedByteBuff {
    /// A buffer holding a copy of `data`.
    pub fn new_from_slice(data: &[u8]) -> Self {
        Self(data.to_vec())
    }

    /// The bytes, as a vector.
    pub fn into_vec(self) -> Vec<u8> {
        self.0
    }

    /// Gives up ownership: the pointer and length of the bytes, which stay
    /// allocated.
    ///
    /// # Safety
    /// The caller must free the buffer exactly once with
    /// [`crate::memory::edgeless_free`]-compatible deallocation (alignment 1,
    /// the returned length), or leak it.
    pub unsafe fn consume(self) -> (*mut u8, usize) {
        let bytes = self.0.into_boxed_slice();
        let len = bytes.len();
        if len == 0 {
            return (core::ptr::null_mut(), 0);
        }
        (Box::into_raw(bytes) as *mut u8, len)
    }
}

impl core::ops::Deref for OwnedByteBuff {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl core::ops::DerefMut for OwnedByteBuff {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }
}

impl From<Vec<u8>> for OwnedByteBuff {
    fn from(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }
}

impl From<&[u8]> for OwnedByteBuff {
    fn from(bytes: &[u8]) -> Self {
        Self::new_from_slice(bytes)
    }
}

impl From<String> for OwnedByteBuff {
    fn from(text: String) -> Self {
        Self(text.into_bytes())
    }
}

impl From<OwnedByteBuff> for Vec<u8> {
    fn from(buffer: OwnedByteBuff) -> Self {
        buffer.0
    }
}

impl AsRef<[u8]> for OwnedByteBuff {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_reads_writes_and_gives_up_its_bytes() {
        let mut buffer = OwnedByteBuff::new_from_slice(b"abc");
        buffer[0] = b'x';
        assert_eq!(&*buffer, b"xbc");
        let (ptr, len) = unsafe { buffer.consume() };
        assert_eq!(len, 3);
        // Freed the way the host frees replies.
        let back = unsafe { Box::from_raw(core::ptr::slice_from_raw_parts_mut(ptr, len)) };
        assert_eq!(&*back, b"xbc");
        assert_eq!(OwnedByteBuff::from(vec![1, 2]).into_vec(), vec![1, 2]);
    }
}
