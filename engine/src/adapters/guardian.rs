//! The guardian: a process that kills every agent's process group when odw
//! dies, however it dies.
//!
//! Each agent runs in its own process group, killed when its call ends, is
//! stopped or times out — but only while odw is alive to do it. An abort, a
//! panic with `panic = "abort"`, or `kill -9` of the worker runs no cleanup,
//! and `PR_SET_PDEATHSIG` reaches only the agent itself, not what the agent
//! started (a CLI's node subprocesses, a test suite, a `sleep`) — and setting
//! it needs a `pre_exec`, which turns every spawn into a full `fork`. So a
//! process forks a guardian: at its start when it is a run ([`start_early`]),
//! else on its first agent. The process tells it each group it starts and
//! ends over a pipe; the guardian holds the only read end and the process
//! the only write end (close-on-exec, so no agent inherits it).
//! When the process is gone for any reason, the kernel closes the write end,
//! the guardian reads end-of-file, kills every group still listed and exits.
//!
//! Why `fork` without `exec` is sound here: after forking a multi-threaded
//! process the child may only make async-signal-safe calls. The guardian
//! makes nothing else — `close`, `sigaction`'s `signal`, `read`, `killpg`,
//! `_exit` — on memory it owns (a fixed table on its stack); it allocates
//! nothing and takes no lock.

use std::sync::{Mutex, OnceLock};

/// How many groups the guardian tracks at once; far above any concurrency
/// cap. A group past this many is still killed by odw itself as usual.
const CAPACITY: usize = 4096;

/// The write end of the pipe to the guardian, if one could be started.
static GUARDIAN: OnceLock<Option<Mutex<libc::c_int>>> = OnceLock::new();

/// Whether a guardian watches this process's agents (started on first use).
pub fn running() -> bool {
    GUARDIAN.get_or_init(start).is_some()
}

/// Starts the guardian now, for a process that is about to run agents and
/// is still single-threaded: call it first thing in `main`.
///
/// Why not wait for the first agent: the forked guardian shares every page
/// the process has at that moment, copy-on-write, for as long as it lives.
/// Forked at the first agent, that is the loaded sandbox, the guest's
/// memory and the runtime's heaps, and every page odw writes afterwards
/// first takes a fault and a copy (measured: a one-agent run 9.9 → 8.4 ms,
/// a 200-agent fan-out 5 ms, when forked at the start instead). Forked
/// before any of them exists, it shares a few pages, and in a process with
/// one thread `fork` is sound with no caveat.
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

fn send(message: i32) {
    let Some(fd) = GUARDIAN.get_or_init(start) else {
        return;
    };
    let Ok(fd) = fd.lock() else { return };
    let bytes = message.to_ne_bytes();
    // A 4-byte write to a pipe is atomic (below PIPE_BUF). If the guardian
    // is gone the write fails (SIGPIPE is ignored by odw); odw's own cleanup
    // still runs while it lives.
    // SAFETY: writes 4 bytes from a live buffer to a descriptor we own.
    unsafe {
        libc::write(*fd, bytes.as_ptr().cast(), bytes.len());
    }
}

/// How often, in milliseconds, the guardian reads the messages waiting in
/// its pipe when the write end stays open.
const TICK_MS: libc::c_int = 100;

/// Applies one message to the table: a group to watch, or (negated) one to
/// forget. A group past [`CAPACITY`] is not tracked.
fn note(groups: &mut [libc::pid_t], message: i32) {
    if message > 0 {
        if let Some(slot) = groups.iter_mut().find(|g| **g == 0) {
            *slot = message;
        }
    } else if let Some(slot) = groups.iter_mut().find(|g| **g == -message) {
        *slot = 0;
    }
}

/// Forks the guardian; `None` when the pipe or the fork fails (the agents
/// then have odw's own cleanup and `PR_SET_PDEATHSIG`, see `executor::process`).
fn start() -> Option<Mutex<libc::c_int>> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 fills the two descriptors of `fds`.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return None;
    }
    let [read_end, write_end] = fds;
    // SAFETY: the child runs only `guard`, which makes async-signal-safe
    // calls and never returns.
    match unsafe { libc::fork() } {
        -1 => {
            // SAFETY: closing the descriptors pipe2 gave us.
            unsafe {
                libc::close(read_end);
                libc::close(write_end);
            }
            None
        }
        0 => guard(read_end),
        _ => {
            // SAFETY: the parent keeps only the write end.
            unsafe { libc::close(read_end) };
            Some(Mutex::new(write_end))
        }
    }
}

/// The guardian's whole life. Async-signal-safe calls only (see the module
/// documentation).
fn guard(read_end: libc::c_int) -> ! {
    // SAFETY: every call below is async-signal-safe and touches only this
    // stack frame's memory.
    unsafe {
        // Hold no descriptor of the process but the pipe: not the write end
        // (or end-of-file would never come), not an agent's pipes, not the
        // terminal. `close_range` (Linux 5.9) does it in two system calls
        // and reaches descriptors however high; the loop is for older
        // kernels, and was a thousand system calls on every first agent.
        let all_but_the_pipe = [(0, read_end - 1), (read_end + 1, libc::c_int::MAX)];
        let ranged = all_but_the_pipe.iter().all(|&(first, last)| {
            first > last
                || libc::syscall(libc::SYS_close_range, first as libc::c_uint, last as libc::c_uint, 0) == 0
        });
        if !ranged {
            for fd in 0..1024 {
                if fd != read_end {
                    libc::close(fd);
                }
            }
        }
        // Ctrl-C and a terminal hang-up reach the whole process group; the
        // guardian must outlive them to clean up after them.
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGTERM, libc::SIG_IGN);
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
        libc::signal(libc::SIGQUIT, libc::SIG_IGN);
        // Messages are read in bulk when the guardian wakes, not one by one
        // as they come: `poll` asks for no event, so a write into the pipe
        // does not wake it (the kernel filters the wake-up by the events
        // asked for), and only the hang-up of the write end — odw gone —
        // or the timeout does. A 200-agent run sends 400 messages; waking
        // for each cost a context switch and a read in both processes. The
        // pipe holds 16 384 messages, far more than odw sends in a tick.
        let flags = libc::fcntl(read_end, libc::F_GETFL);
        libc::fcntl(read_end, libc::F_SETFL, flags | libc::O_NONBLOCK);
        let mut groups = [0 as libc::pid_t; CAPACITY];
        let mut buf = [0u8; 4096];
        let mut held = 0;
        loop {
            let mut ask = libc::pollfd { fd: read_end, events: 0, revents: 0 };
            libc::poll(&mut ask, 1, TICK_MS);
            loop {
                let n = libc::read(read_end, buf[held..].as_mut_ptr().cast(), buf.len() - held);
                if n > 0 {
                    held += n as usize;
                    let whole = held - held % 4;
                    for message in buf[..whole].chunks_exact(4) {
                        let message = i32::from_ne_bytes([message[0], message[1], message[2], message[3]]);
                        note(&mut groups, message);
                    }
                    buf.copy_within(whole..held, 0);
                    held -= whole;
                } else if n < 0 && *libc::__errno_location() == libc::EINTR {
                    continue;
                } else if n < 0 && *libc::__errno_location() == libc::EAGAIN {
                    break;
                } else {
                    // End of file: the process is gone.
                    for &pgid in &groups {
                        if pgid > 0 {
                            libc::killpg(pgid, libc::SIGKILL);
                        }
                    }
                    libc::_exit(0);
                }
            }
        }
    }
}
