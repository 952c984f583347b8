//! Deny-by-default stand-ins for the WASI preview-1 calls the guest links.
//!
//! QuickJS's libc (wasi-libc) imports these ten functions. Rather than
//! linking `wasmtime-wasi` and configuring a context down to nothing, odw
//! defines each one here, so the sandbox's whole surface is in two small
//! files and there is no file, socket or environment code to misconfigure:
//!
//! | import              | what the guest gets                                     |
//! |---------------------|---------------------------------------------------------|
//! | `environ_sizes_get` | an empty environment                                    |
//! | `environ_get`       | nothing (there is nothing to copy)                      |
//! | `clock_time_get`    | the run's logical clock, never the host's time          |
//! | `random_get`        | bytes from the run's recorded seed, never host entropy  |
//! | `fd_write`          | stdout/stderr accepted and discarded; other fds: EBADF  |
//! | `fd_read`           | stdin at end of file; other fds: EBADF (today's guest no longer imports it; modules an older odw built do) |
//! | `fd_fdstat_get`     | stdio described as character devices; other fds: EBADF  |
//! | `fd_seek`           | ESPIPE (stdio cannot seek)                              |
//! | `fd_close`          | stdio: success, nothing happens; other fds: EBADF       |
//! | `proc_exit`         | ends the evaluation with an error                       |

use wasmtime::{Caller, Linker};

use super::GuestState;
use super::imports::{read_guest, write_guest};

const MODULE: &str = "wasi_snapshot_preview1";
const SUCCESS: i32 = 0;
const EBADF: i32 = 8;
const EFAULT: i32 = 21;
const EINVAL: i32 = 28;
const ESPIPE: i32 = 70;
const FILETYPE_CHARACTER_DEVICE: u8 = 2;
const RIGHT_FD_READ: u64 = 1 << 1;
const RIGHT_FD_WRITE: u64 = 1 << 6;

/// The guest called `proc_exit`: the evaluation ends without an outcome.
#[derive(Debug, thiserror::Error)]
#[error("the guest exited with code {0}")]
pub struct GuestExit(pub i32);

fn is_stdio(fd: i32) -> bool {
    (0..=2).contains(&fd)
}

/// Writes `bytes` at `ptr`, turning a bad pointer into EFAULT.
fn put(c: &mut Caller<'_, GuestState>, ptr: i32, bytes: &[u8]) -> i32 {
    match write_guest(c, ptr as u32, bytes) {
        Ok(()) => SUCCESS,
        Err(_) => EFAULT,
    }
}

/// splitmix64: the deterministic stream behind `random_get`.
fn next_random(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

pub(super) fn add_to_linker(linker: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        MODULE,
        "environ_sizes_get",
        |mut c: Caller<'_, GuestState>, count: i32, size: i32| match put(&mut c, count, &0u32.to_le_bytes()) {
            SUCCESS => put(&mut c, size, &0u32.to_le_bytes()),
            e => e,
        },
    )?;
    linker.func_wrap(MODULE, "environ_get", |_: Caller<'_, GuestState>, _environ: i32, _buf: i32| SUCCESS)?;

    linker.func_wrap(
        MODULE,
        "clock_time_get",
        |mut c: Caller<'_, GuestState>, id: i32, _precision: i64, out: i32| {
            if !(0..=3).contains(&id) {
                return EINVAL;
            }
            let nanos = (c.data().clock_ms.max(0.0) * 1_000_000.0) as u64;
            put(&mut c, out, &nanos.to_le_bytes())
        },
    )?;

    linker.func_wrap(MODULE, "random_get", |mut c: Caller<'_, GuestState>, buf: i32, len: i32| {
        let mut bytes = Vec::with_capacity(len.max(0) as usize);
        let state = &mut c.data_mut().random;
        while bytes.len() < len.max(0) as usize {
            bytes.extend_from_slice(&next_random(state).to_le_bytes());
        }
        bytes.truncate(len.max(0) as usize);
        put(&mut c, buf, &bytes)
    })?;

    linker.func_wrap(
        MODULE,
        "fd_write",
        |mut c: Caller<'_, GuestState>, fd: i32, iovs: i32, iovs_len: i32, written: i32| {
            if fd != 1 && fd != 2 {
                return EBADF;
            }
            let Ok(raw) = read_guest(&mut c, iovs as u32, (iovs_len.max(0) as u32).saturating_mul(8)) else {
                return EFAULT;
            };
            // Each iovec is (ptr: u32, len: u32); the bytes are discarded.
            let total: u32 = raw
                .chunks_exact(8)
                .map(|iov| u32::from_le_bytes([iov[4], iov[5], iov[6], iov[7]]))
                .fold(0u32, u32::saturating_add);
            put(&mut c, written, &total.to_le_bytes())
        },
    )?;

    linker.func_wrap(
        MODULE,
        "fd_read",
        |mut c: Caller<'_, GuestState>, fd: i32, _iovs: i32, _iovs_len: i32, read: i32| {
            if fd != 0 {
                return EBADF;
            }
            put(&mut c, read, &0u32.to_le_bytes())
        },
    )?;

    linker.func_wrap(MODULE, "fd_fdstat_get", |mut c: Caller<'_, GuestState>, fd: i32, out: i32| {
        if !is_stdio(fd) {
            return EBADF;
        }
        let rights = if fd == 0 { RIGHT_FD_READ } else { RIGHT_FD_WRITE };
        let mut stat = [0u8; 24];
        stat[0] = FILETYPE_CHARACTER_DEVICE;
        stat[8..16].copy_from_slice(&rights.to_le_bytes());
        put(&mut c, out, &stat)
    })?;

    linker.func_wrap(
        MODULE,
        "fd_seek",
        |_: Caller<'_, GuestState>, fd: i32, _offset: i64, _whence: i32, _new: i32| {
            if is_stdio(fd) { ESPIPE } else { EBADF }
        },
    )?;

    linker.func_wrap(
        MODULE,
        "fd_close",
        |_: Caller<'_, GuestState>, fd: i32| {
            if is_stdio(fd) { SUCCESS } else { EBADF }
        },
    )?;

    linker.func_wrap(
        MODULE,
        "proc_exit",
        |_: Caller<'_, GuestState>, code: i32| -> wasmtime::Result<()> { Err(GuestExit(code).into()) },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::next_random;

    #[test]
    fn random_stream_is_a_function_of_the_seed() {
        let (mut a, mut b, mut c) = (7u64, 7u64, 8u64);
        let xs: Vec<u64> = (0..4).map(|_| next_random(&mut a)).collect();
        let ys: Vec<u64> = (0..4).map(|_| next_random(&mut b)).collect();
        let zs: Vec<u64> = (0..4).map(|_| next_random(&mut c)).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
    }
}
