//! The resource limits of one evaluation, and how a violation is reported.
//!
//! Every limit names the config key that raises it, because the person who
//! hits a limit is usually running someone else's (or an LLM's) workflow and
//! needs to know what to change, or that the script is at fault.

use std::time::Duration;

use wasmtime::{ResourceLimiter, Trap};

use super::{GuestState, SandboxError};

/// Limits for one evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SandboxLimits {
    /// CPU time the script may run between two agent completions
    /// (config `scriptCpuSeconds`).
    pub cpu: Duration,
    /// The guest's linear memory (config `scriptMemoryMb`).
    pub memory_bytes: usize,
}

impl Default for SandboxLimits {
    fn default() -> Self {
        SandboxLimits { cpu: Duration::from_secs(10), memory_bytes: 512 << 20 }
    }
}

/// A limit the script ran into.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitHit {
    #[error(
        "CPU limit: the script computed for {}s without waiting for an agent; \
         raise `scriptCpuSeconds` in odw.config.json if that is intended",
        limit.as_secs_f64()
    )]
    Cpu { limit: Duration },
    #[error(
        "memory limit: the script needs more than {} MiB; \
         raise `scriptMemoryMb` in odw.config.json if that is intended",
        limit_bytes >> 20
    )]
    Memory { limit_bytes: usize },
    #[error(
        "stack overflow: the script recursed too deeply for the script engine's stack \
         (a fixed limit of the sandbox); turn the recursion into a loop"
    )]
    Stack,
}

impl LimitHit {
    /// The config key that raises this limit, if any.
    pub fn key(&self) -> Option<&'static str> {
        match self {
            LimitHit::Cpu { .. } => Some("scriptCpuSeconds"),
            LimitHit::Memory { .. } => Some("scriptMemoryMb"),
            LimitHit::Stack => None,
        }
    }
}

impl ResourceLimiter for GuestState {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limits.memory_bytes {
            // An error (not `Ok(false)`) so the script cannot catch it as a
            // recoverable out-of-memory and carry on.
            return Err(LimitHit::Memory { limit_bytes: self.limits.memory_bytes }.into());
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1 << 20)
    }
}

/// Maps what stopped the guest to a user-facing error. Raw traps (with their
/// wasm backtraces) are never shown to users.
pub(super) fn classify(e: wasmtime::Error, limits: &SandboxLimits) -> SandboxError {
    if let Some(hit) = e.downcast_ref::<LimitHit>() {
        return SandboxError::Limit(hit.clone());
    }
    if let Some(exit) = e.downcast_ref::<super::wasi::GuestExit>() {
        return SandboxError::Protocol(exit.to_string());
    }
    match e.downcast_ref::<Trap>() {
        // QuickJS-ng turns its own stack check off on WASI; deep recursion
        // then runs off the guest's shadow stack (placed first in memory, so
        // it faults below address 0) or exhausts the wasm stack.
        Some(Trap::StackOverflow | Trap::MemoryOutOfBounds) => SandboxError::Limit(LimitHit::Stack),
        Some(Trap::Interrupt) => SandboxError::Limit(LimitHit::Cpu { limit: limits.cpu }),
        Some(trap) => SandboxError::Trap(trap.to_string()),
        None => SandboxError::Trap(format!("{}", e.root_cause())),
    }
}
