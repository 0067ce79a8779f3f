//! What one WASM instance may hold: its linear memory (the workflow's
//! `max_memory_mb`, at most the node's), one memory, one instance, a few
//! tables of bounded size. A memory that cannot grow makes the guest's
//! allocator fail (a Rust function then panics); a table grown beyond its
//! bound stops the instance with a reason that says so.

use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};

/// The most elements of one table of an instance (a Rust function has one
/// table of a few hundred).
pub const MAX_TABLE_ELEMENTS: usize = 100_000;
/// The most tables of an instance.
pub const MAX_TABLES: usize = 4;

/// The limits of one instance's store.
pub struct GuestLimits {
    memory: StoreLimits,
}

impl GuestLimits {
    /// Limits with a linear memory of at most `memory_bytes`.
    pub fn new(memory_bytes: usize) -> Self {
        Self {
            memory: StoreLimitsBuilder::new()
                .memory_size(memory_bytes)
                .memories(1)
                .instances(1)
                .tables(MAX_TABLES)
                .build(),
        }
    }
}

impl ResourceLimiter for GuestLimits {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.memory.memory_growing(current, desired, maximum)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > MAX_TABLE_ELEMENTS {
            return Err(wasmtime::format_err!(
                "a table would grow to {desired} elements, beyond the node's limit of {MAX_TABLE_ELEMENTS}"
            ));
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        self.memory.instances()
    }

    fn tables(&self) -> usize {
        self.memory.tables()
    }

    fn memories(&self) -> usize {
        self.memory.memories()
    }
}
