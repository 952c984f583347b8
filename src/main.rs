//! `odw`: the command line. It parses flags, reads the configuration and
//! calls the engine; everything else lives in `odw-engine`.

mod audit;
mod builtin;
mod cli;
mod commands;
mod generate;
#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod math_symbols;
mod mcp;
mod progress;
mod report;
mod serve;
mod watch_ui;

use std::process::ExitCode;

use clap::Parser;

/// The runtime's worker threads: one core fewer than odw may use, for the
/// main thread, which runs the guest (the script, in `block_on`) while the
/// workers serve its calls. Tokio's default, a worker per core, put on a
/// 2-core machine a second worker that woke and searched for work beside
/// the guest's load and run: every run 0.3-0.4 ms longer (a no-agent run
/// 3.93 -> 3.55 ms), with nothing gained, as agents' spawns run on the
/// blocking pool.
///
/// With two CPUs or fewer in the affinity mask the answer is one worker
/// without asking `available_parallelism`, which also reads the cgroup's
/// CPU quota (three files, ~25 µs of every start): a quota only lowers the
/// count, and one worker is the floor.
fn workers() -> usize {
    if affinity_cpus().is_some_and(|n| n <= 2) {
        return 1;
    }
    std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1)).max(1)
}

/// The CPUs this process may run on, if the kernel says.
#[cfg(target_os = "linux")]
fn affinity_cpus() -> Option<usize> {
    // SAFETY: `set` is a plain bit set the kernel fills, of the size passed.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        (libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) == 0)
            .then(|| libc::CPU_COUNT(&set) as usize)
    }
}

#[cfg(not(target_os = "linux"))]
fn affinity_cpus() -> Option<usize> {
    None
}

fn main() -> ExitCode {
    if std::env::args_os().nth(1).is_some_and(|word| cli::evaluates_first(&word)) {
        commands::preload_sandbox();
    }
    let cli = cli::Cli::parse();
    let early = commands::start_early(&cli);
    if cli.command.starts_guardian() {
        // Before any agent can start; it also holds the address space, so
        // the exit does not wait for its teardown (see the guardian).
        odw_engine::start_guardian();
    }
    let runtime =
        match tokio::runtime::Builder::new_multi_thread().worker_threads(workers()).enable_all().build() {
            Ok(rt) => rt,
            Err(e) => return report::fatal(&anyhow::anyhow!("cannot start the async runtime: {e}")),
        };
    let outcome = runtime.block_on(commands::execute(cli, early));
    commands::settle_sandbox();
    // The command is over and the process ends now. Dropping the runtime
    // would join its threads, and wait for blocking tasks still running
    // (a run's journal being closed, after its end was flushed), only to
    // exit afterwards; what a command must keep is on disk before
    // `block_on` returns.
    std::mem::forget(runtime);
    match outcome {
        Ok(code) => code,
        // Like other Unix tools, end quietly when the reader of stdout goes
        // away (`odw logs … | head`). SIGPIPE itself stays ignored (Rust's
        // default): odw writes prompts into agents' stdin, and an agent
        // that exits without reading must not kill odw.
        Err(e) if report::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => report::fatal(&e),
    }
}

#[cfg(test)]
mod worker_tests {
    /// The shortcut agrees with the standard library: the affinity mask is
    /// an upper bound of what `available_parallelism` (mask and quota)
    /// says, and the workers are one fewer, at least one.
    #[test]
    fn the_workers_are_one_fewer_than_the_usable_cpus() {
        let usable = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mask = super::affinity_cpus().expect("the affinity mask");
        assert!(mask >= usable, "mask {mask}, usable {usable}");
        let workers = super::workers();
        assert_eq!(workers, if mask <= 2 { 1 } else { usable.saturating_sub(1).max(1) });
    }
}

#[cfg(all(test, odw_static_unwinder))]
mod tests {
    /// The binary's unwinder is linked in (build.rs): `libgcc_s` is never
    /// loaded, and panics and backtraces still work through the one linked.
    #[test]
    fn panics_unwind_through_the_linked_unwinder_and_libgcc_s_is_not_loaded() {
        let maps = std::fs::read_to_string("/proc/self/maps").expect("/proc/self/maps");
        assert!(maps.contains("libc.so"), "the maps list shared libraries");
        assert!(!maps.contains("libgcc_s"), "libgcc_s is loaded:\n{maps}");

        let caught = std::panic::catch_unwind(|| -> u32 { std::panic::panic_any(7u32) });
        assert_eq!(caught.map_err(|p| p.downcast_ref::<u32>().copied()), Err(Some(7)));

        let trace = std::backtrace::Backtrace::force_capture().to_string();
        assert!(trace.contains("panics_unwind_through_the_linked_unwinder"), "{trace}");
    }
}
