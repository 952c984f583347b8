//! The guardian: a process that kills every agent's process group when odw
//! dies, however it dies.
//!
//! Each agent runs in its own process group, killed when its call ends, is
//! stopped or times out — but only while odw is alive to do it. An abort, a
//! panic with `panic = "abort"`, or `kill -9` of the worker runs no cleanup,
//! and `PR_SET_PDEATHSIG` reaches only the agent itself, not what the agent
//! started (a CLI's node subprocesses, a test suite, a `sleep`) — and setting
//! it needs a `pre_exec`, which turns every spawn into a full `fork`. So a
//! process starts a guardian: at its start when it is a run ([`start_early`]),
//! else on its first agent. The process tells it each group it starts and
//! ends over a pipe; the guardian holds the only read end and the process
//! the only write end (close-on-exec, so no agent inherits it).
//! When the process is gone for any reason, the kernel closes the write end,
//! the guardian reads end-of-file, kills every group still listed and exits.
//!
//! It also puts a run's journal on the disk after a process that ends with
//! its run is gone ([`sync_at_exit`]): the `fsync` of the journal's end,
//! half a millisecond for one agent's run and more for a large one, was
//! the last thing such a process waited for before it reported the run and
//! exited. The journal is flushed before (it survives the process), and a
//! power cut in the millisecond between the report and that sync costs
//! what one a moment before the report would. Since the guardian does it
//! however odw ends, a run killed with `kill -9` gets its journal synced
//! too, where before it only survived the process.
//!
//! The guardian is not forked: it is a process that shares odw's memory
//! (`clone` with `CLONE_VM` and nothing else shared, the way `posix_spawn`
//! starts its child), with a stack of its own. Two reasons. A fork copied
//! odw's page tables and then cost a fault and a page copy for every page
//! odw wrote afterwards. And the process that lets go of an address space
//! last tears it down (every page odw mapped: its code, the guest's memory,
//! its heaps): with the guardian holding it, odw's exit no longer waits for
//! that, which measured 0.4 ms of every run's end; the guardian does it when
//! it exits, after odw is gone.
//!
//! Why that is sound: the guardian touches no memory but its own stack and
//! makes no call but raw system calls ([`sys`]): no allocator, no lock, no
//! thread-local (it runs with the thread pointer of the thread that started
//! it, so not even `errno`: the raw calls return their error instead of
//! storing it), no panic. Every signal is blocked in it from its first
//! instruction (the mask it inherits), so no handler of odw's ever runs on
//! its stack; Ctrl-C and a terminal hang-up, which reach the whole process
//! group, stay pending in it, and it outlives them to clean up after them.
//! (A core dump of odw, since Linux 5.16, stops only odw's own threads; an
//! older kernel also killed the processes sharing its memory, so there a
//! crash that dumps core loses the guardian: the agents then have
//! `PR_SET_PDEATHSIG` only, as when no guardian could start.)

use std::sync::{Mutex, OnceLock};

/// How many groups the guardian tracks at once; far above any concurrency
/// cap. A group past this many is still killed by odw itself as usual.
const CAPACITY: usize = 4096;

/// The guardian's stack. Far above its frame (the group table, 16 KiB, the
/// path to sync and a read buffer, 6 KiB); never unmapped, since the guardian may outlive every
/// thread of odw.
const STACK_BYTES: usize = 256 * 1024;

/// The write end of the pipe to the guardian, if one could be started.
static GUARDIAN: OnceLock<Option<Mutex<libc::c_int>>> = OnceLock::new();

/// Whether a guardian watches this process's agents (started on first use).
pub fn running() -> bool {
    GUARDIAN.get_or_init(start).is_some()
}

/// Starts the guardian now, for a process that is about to run agents:
/// call it first thing in `main`. Started then, it also holds the address
/// space of a run that calls no agent, whose exit then does not wait for
/// its teardown either (see the module documentation).
pub fn start_early() {
    GUARDIAN.get_or_init(start);
}

/// Tells the guardian that process group `pgid` now holds an agent.
pub fn watch(pgid: u32) {
    send(pgid as i32);
}

/// Tells the guardian that group `pgid` has been killed and reaped.
pub fn forget(pgid: u32) {
    send(-(pgid as i32));
}

/// Has the guardian `fsync` `file` once this process is gone, instead of
/// this process waiting for it (see the module documentation); `false`
/// when it cannot (no guardian, a path too long), and the caller syncs it
/// itself. Only for a process that ends with its run: the sync happens at
/// the process's end, not the run's. A relative path is made absolute here:
/// the guardian kept the working directory odw started in.
pub fn sync_at_exit(file: &std::path::Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(file) = std::path::absolute(file) else { return false };
    let path = file.as_os_str().as_bytes();
    if path.len() > MAX_PATH || path.contains(&0) || !running() {
        return false;
    }
    send_bytes(&sync_message(path))
}

/// Withdraws a [`sync_at_exit`]: the guardian syncs nothing at the end.
/// For a run that ended having completed no call: its journal holds
/// nothing a power cut could cost (`Ending::Flushed`), and the `fsync`,
/// which the guardian made once odw was gone, was a write to the disk and a
/// cache flush after every such run, on a core the next command wanted.
/// `false` when the message could not be sent (the guardian then syncs the
/// file anyway, which costs time, not safety).
pub fn no_sync_at_exit() -> bool {
    // A sync message with an empty path: the guardian keeps the last one.
    GUARDIAN.get().is_some_and(Option::is_some) && send_bytes(&sync_message(b""))
}

/// A [`sync_at_exit`] message: [`SYNC`], the path's length, the path.
fn sync_message(path: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(SYNC_HEADER + path.len());
    message.extend_from_slice(&SYNC.to_ne_bytes());
    message.extend_from_slice(&(path.len() as u32).to_ne_bytes());
    message.extend_from_slice(path);
    message
}

/// The tag of a [`sync_at_exit`] message; a group's is its (nonzero) pid.
const SYNC: i32 = 0;
/// A sync message's tag and length, before its path.
const SYNC_HEADER: usize = 8;
/// The longest path [`sync_at_exit`] sends: the whole message is below
/// `PIPE_BUF` (4096), so it reaches the pipe in one piece, and fits the
/// guardian's read buffer beside a partial message.
const MAX_PATH: usize = 2048;

fn send(message: i32) {
    send_bytes(&message.to_ne_bytes());
}

/// Writes one message; whether it was. A write of at most `PIPE_BUF` bytes
/// to a pipe is atomic, so messages never interleave. If the guardian is
/// gone the write fails (SIGPIPE is ignored by odw); odw's own cleanup
/// still runs while it lives.
fn send_bytes(message: &[u8]) -> bool {
    let Some(fd) = GUARDIAN.get_or_init(start) else {
        return false;
    };
    let Ok(fd) = fd.lock() else { return false };
    // SAFETY: writes the bytes of a live buffer to a descriptor we own.
    let written = unsafe { libc::write(*fd, message.as_ptr().cast(), message.len()) };
    written == message.len() as isize
}

/// How often, in milliseconds, the guardian reads the messages waiting in
/// its pipe when the write end stays open.
const TICK_MS: libc::c_int = 100;

/// What the guardian keeps: the groups to kill and the file to sync.
struct Books {
    groups: [libc::pid_t; CAPACITY],
    /// The path of the file to sync, NUL-terminated (`sync_len` bytes
    /// before the NUL); none while `sync_len` is 0.
    sync_path: [u8; MAX_PATH + 1],
    sync_len: usize,
}

impl Books {
    /// Applies the whole messages at the start of `bytes` and returns how
    /// many bytes they took; a message cut short is left for the next read.
    /// A group to watch is its pid, one to forget its pid negated (a group
    /// past [`CAPACITY`] is not tracked), a file to sync [`SYNC`], its
    /// length and its path.
    fn apply(&mut self, bytes: &[u8]) -> usize {
        let mut at = 0;
        while let Some(tag) = bytes.get(at..at + 4) {
            let message = i32::from_ne_bytes([tag[0], tag[1], tag[2], tag[3]]);
            if message != SYNC {
                self.note(message);
                at += 4;
                continue;
            }
            let Some(len) = bytes.get(at + 4..at + SYNC_HEADER) else { break };
            let len = u32::from_ne_bytes([len[0], len[1], len[2], len[3]]) as usize;
            let Some(path) = bytes.get(at + SYNC_HEADER..at + SYNC_HEADER + len) else { break };
            // Sent by odw, which caps it; a longer one is not kept.
            if len <= MAX_PATH {
                self.sync_path[..len].copy_from_slice(path);
                self.sync_path[len] = 0;
                self.sync_len = len;
            }
            at += SYNC_HEADER + len;
        }
        at
    }

    fn note(&mut self, message: i32) {
        if message > 0 {
            if let Some(slot) = self.groups.iter_mut().find(|g| **g == 0) {
                *slot = message;
            }
        } else if let Some(slot) = self.groups.iter_mut().find(|g| **g == -message) {
            *slot = 0;
        }
    }
}

/// Starts the guardian; `None` when the pipe, its stack or the `clone`
/// fails (the agents then have odw's own cleanup and `PR_SET_PDEATHSIG`, see
/// `executor::process`).
fn start() -> Option<Mutex<libc::c_int>> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 fills the two descriptors of `fds`.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return None;
    }
    let [read_end, write_end] = fds;
    let close_both = || {
        // SAFETY: closing the descriptors pipe2 gave us.
        unsafe {
            libc::close(read_end);
            libc::close(write_end);
        }
    };
    // SAFETY: a fresh private mapping, ours alone; the guardian's stack.
    let stack = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            STACK_BYTES,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
            -1,
            0,
        )
    };
    if stack == libc::MAP_FAILED {
        close_both();
        return None;
    }
    // SAFETY: the stack grows down from the end of the mapping, which stays
    // mapped for the life of the address space. All signals are blocked
    // across the clone so the child starts with them blocked; this thread's
    // mask is restored right after. The child runs only `guard` (see the
    // module documentation for why that is sound in a shared address space)
    // and is handed the descriptor by value.
    let pid = unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut before: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut before);
        let top = stack.cast::<u8>().add(STACK_BYTES).cast();
        let pid = libc::clone(
            entry,
            top,
            sys::SHARE_MEMORY | libc::SIGCHLD,
            read_end as isize as *mut libc::c_void,
        );
        libc::pthread_sigmask(libc::SIG_SETMASK, &before, std::ptr::null_mut());
        pid
    };
    if pid == -1 {
        close_both();
        // SAFETY: unmapping the stack no child was given.
        unsafe { libc::munmap(stack, STACK_BYTES) };
        return None;
    }
    // SAFETY: the parent keeps only the write end (the child has its own
    // copy of the descriptor table).
    unsafe { libc::close(read_end) };
    Some(Mutex::new(write_end))
}

extern "C" fn entry(read_end: *mut libc::c_void) -> libc::c_int {
    guard(read_end as isize as libc::c_int)
}

/// The guardian's whole life: raw system calls on its own stack only (see
/// the module documentation).
fn guard(read_end: libc::c_int) -> ! {
    // Hold no descriptor of the process but the pipe: not the write end
    // (or end-of-file would never come), not an agent's pipes, not the
    // terminal. `close_range` (Linux 5.9) does it in two system calls and
    // reaches descriptors however high; the loop is for older kernels.
    let all_but_the_pipe = [(0, read_end - 1), (read_end + 1, libc::c_int::MAX)];
    let ranged = all_but_the_pipe
        .iter()
        .all(|&(first, last)| first > last || sys::close_range(first as u32, last as u32) == 0);
    if !ranged {
        for fd in 0..1024 {
            if fd != read_end {
                sys::close(fd);
            }
        }
    }
    // Messages are read in bulk when the guardian wakes, not one by one as
    // they come: `poll` asks for no event, so a write into the pipe does not
    // wake it (the kernel filters the wake-up by the events asked for), and
    // only the hang-up of the write end — odw gone — or the timeout does. A
    // 200-agent run sends 400 messages; waking for each cost a context
    // switch and a read in both processes. The pipe holds 16 384 messages,
    // far more than odw sends in a tick.
    sys::set_nonblocking(read_end);
    let mut books = Books { groups: [0; CAPACITY], sync_path: [0; MAX_PATH + 1], sync_len: 0 };
    let mut buf = [0u8; 4096];
    let mut held = 0;
    loop {
        sys::wait_hangup(read_end, TICK_MS);
        loop {
            let n = sys::read(read_end, &mut buf[held..]);
            if n > 0 {
                held += n as usize;
                let whole = books.apply(&buf[..held]);
                buf.copy_within(whole..held, 0);
                held -= whole;
            } else if n == -(libc::EINTR as isize) {
                continue;
            } else if n == -(libc::EAGAIN as isize) {
                break;
            } else {
                // End of file: the process is gone.
                for &pgid in &books.groups {
                    if pgid > 0 {
                        sys::kill(-pgid, libc::SIGKILL);
                    }
                }
                if books.sync_len > 0 {
                    sys::fsync_path(&books.sync_path);
                }
                sys::exit(0);
            }
        }
    }
}

/// The system calls the guardian makes, as raw `syscall` instructions that
/// return `-errno` rather than store it: libc's wrappers write `errno`,
/// which lives with the thread pointer the guardian shares with an odw
/// thread.
mod sys {
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    use std::arch::asm;

    /// `CLONE_VM` where the calls below are raw. Elsewhere they go through
    /// libc, so the guardian gets memory of its own (a fork), where `errno`
    /// is its own too.
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    pub const SHARE_MEMORY: libc::c_int = libc::CLONE_VM;
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    pub const SHARE_MEMORY: libc::c_int = 0;

    /// A system call with up to five arguments; its result, or `-errno`.
    ///
    /// # Safety
    /// As the system call `n` with these arguments.
    #[cfg(target_arch = "x86_64")]
    unsafe fn call(n: libc::c_long, a: [usize; 5]) -> isize {
        let ret: isize;
        // SAFETY: the Linux x86-64 system call convention; the kernel
        // clobbers rcx and r11.
        unsafe {
            asm!("syscall", inlateout("rax") n as isize => ret, in("rdi") a[0], in("rsi") a[1],
                 in("rdx") a[2], in("r10") a[3], in("r8") a[4], lateout("rcx") _, lateout("r11") _,
                 options(nostack));
        }
        ret
    }

    /// See the x86-64 one.
    ///
    /// # Safety
    /// As the system call `n` with these arguments.
    #[cfg(target_arch = "aarch64")]
    unsafe fn call(n: libc::c_long, a: [usize; 5]) -> isize {
        let ret: isize;
        // SAFETY: the Linux AArch64 system call convention.
        unsafe {
            asm!("svc 0", in("x8") n, inlateout("x0") a[0] as isize => ret, in("x1") a[1], in("x2") a[2],
                 in("x3") a[3], in("x4") a[4], options(nostack));
        }
        ret
    }

    /// libc's `syscall`, its error read back from `errno` (the guardian's
    /// own: it was forked, see [`SHARE_MEMORY`]).
    ///
    /// # Safety
    /// As the system call `n` with these arguments.
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    unsafe fn call(n: libc::c_long, a: [usize; 5]) -> isize {
        // SAFETY: as the caller's.
        let ret = unsafe { libc::syscall(n, a[0], a[1], a[2], a[3], a[4]) };
        if ret < 0 {
            -(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO) as isize)
        } else {
            ret as isize
        }
    }

    pub fn close_range(first: u32, last: u32) -> isize {
        // SAFETY: closes descriptors of the guardian's own table.
        unsafe { call(libc::SYS_close_range, [first as usize, last as usize, 0, 0, 0]) }
    }

    pub fn close(fd: libc::c_int) {
        // SAFETY: as `close_range`.
        unsafe { call(libc::SYS_close, [fd as usize, 0, 0, 0, 0]) };
    }

    pub fn set_nonblocking(fd: libc::c_int) {
        // SAFETY: reads and sets the flags of a descriptor the guardian owns.
        unsafe {
            let flags = call(libc::SYS_fcntl, [fd as usize, libc::F_GETFL as usize, 0, 0, 0]);
            if flags >= 0 {
                call(
                    libc::SYS_fcntl,
                    [fd as usize, libc::F_SETFL as usize, flags as usize | libc::O_NONBLOCK as usize, 0, 0],
                );
            }
        }
    }

    /// Waits until `fd`'s writer hangs up or `ms` pass, whichever is first.
    pub fn wait_hangup(fd: libc::c_int, ms: libc::c_int) {
        let mut ask = libc::pollfd { fd, events: 0, revents: 0 };
        let timeout =
            libc::timespec { tv_sec: (ms / 1000).into(), tv_nsec: ((ms % 1000) * 1_000_000).into() };
        // SAFETY: `ask` and `timeout` live on this frame for the call; no
        // signal mask is passed.
        unsafe {
            call(
                libc::SYS_ppoll,
                [std::ptr::from_mut(&mut ask) as usize, 1, std::ptr::from_ref(&timeout) as usize, 0, 0],
            )
        };
    }

    pub fn read(fd: libc::c_int, into: &mut [u8]) -> isize {
        // SAFETY: writes at most `into.len()` bytes into `into`.
        unsafe { call(libc::SYS_read, [fd as usize, into.as_mut_ptr() as usize, into.len(), 0, 0]) }
    }

    /// Opens the file at `path` (NUL-terminated), `fsync`s it and closes
    /// it; an error is not reported (nobody is left to hear it, and the
    /// journal survives the process in any case).
    pub fn fsync_path(path: &[u8]) {
        // SAFETY: `path` is NUL-terminated and lives for the call; the
        // descriptor opened is closed here.
        unsafe {
            let fd = call(
                libc::SYS_openat,
                [
                    libc::AT_FDCWD as usize,
                    path.as_ptr() as usize,
                    (libc::O_RDONLY | libc::O_CLOEXEC) as usize,
                    0,
                    0,
                ],
            );
            if fd >= 0 {
                call(libc::SYS_fsync, [fd as usize, 0, 0, 0, 0]);
                call(libc::SYS_close, [fd as usize, 0, 0, 0, 0]);
            }
        }
    }

    pub fn kill(pid: libc::pid_t, signal: libc::c_int) {
        // SAFETY: sends a signal; touches no memory.
        unsafe { call(libc::SYS_kill, [pid as usize, signal as usize, 0, 0, 0]) };
    }

    pub fn exit(code: libc::c_int) -> ! {
        // SAFETY: ends the guardian's process (not odw's: it is a process
        // of its own).
        unsafe { call(libc::SYS_exit_group, [code as usize, 0, 0, 0, 0]) };
        #[allow(clippy::empty_loop)]
        loop {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn books() -> Box<Books> {
        Box::new(Books { groups: [0; CAPACITY], sync_path: [0; MAX_PATH + 1], sync_len: 0 })
    }

    #[test]
    fn groups_and_a_file_to_sync_are_read_from_one_stream() {
        let mut stream = 7i32.to_ne_bytes().to_vec();
        stream.extend(sync_message(b"/runs/a/journal/db"));
        stream.extend(9i32.to_ne_bytes());
        stream.extend((-7i32).to_ne_bytes());
        let mut books = books();
        assert_eq!(books.apply(&stream), stream.len());
        assert_eq!(books.groups.iter().filter(|g| **g != 0).collect::<Vec<_>>(), [&9]);
        assert_eq!(&books.sync_path[..books.sync_len + 1], b"/runs/a/journal/db\0");
    }

    /// A read may end anywhere in a message: what is cut short waits for
    /// the next read, fed again from its start.
    #[test]
    fn a_message_cut_short_is_applied_once_the_rest_comes() {
        let mut stream = 5i32.to_ne_bytes().to_vec();
        stream.extend(sync_message(b"/x/db"));
        stream.extend(6i32.to_ne_bytes());
        for cut in 0..=stream.len() {
            let mut books = books();
            let taken = books.apply(&stream[..cut]);
            assert!(taken <= cut);
            let rest = books.apply(&stream[taken..]);
            assert_eq!(taken + rest, stream.len(), "cut at {cut}");
            assert_eq!(books.groups.iter().filter(|g| **g != 0).count(), 2, "cut at {cut}");
            assert_eq!(&books.sync_path[..books.sync_len], b"/x/db", "cut at {cut}");
        }
    }

    #[test]
    fn a_later_file_replaces_an_earlier_one_and_an_oversized_one_is_skipped() {
        let mut stream = sync_message(b"/first/db");
        stream.extend(sync_message(b"/second/db"));
        stream.extend(sync_message(&[b'a'; MAX_PATH + 1]));
        let mut books = books();
        assert_eq!(books.apply(&stream), stream.len());
        assert_eq!(&books.sync_path[..books.sync_len + 1], b"/second/db\0");
    }

    #[test]
    fn an_empty_path_withdraws_the_sync() {
        let mut stream = sync_message(b"/runs/a/journal/db");
        stream.extend(sync_message(b""));
        let mut books = books();
        assert_eq!(books.apply(&stream), stream.len());
        assert_eq!(books.sync_len, 0, "nothing left to sync");
    }

    #[test]
    fn a_path_too_long_for_one_message_is_not_handed_over() {
        let long = format!("/{}", "a".repeat(MAX_PATH));
        assert!(!sync_at_exit(std::path::Path::new(&long)));
    }
}
