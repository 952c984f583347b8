//! Helper threads: work a run does beside the guest, kept off the guest's CPU.
//!
//! An `odw run` does its start-up work on threads beside the one that will
//! run the guest (loading the precompiled guest, reading the journal a
//! resume reuses), so that on two cores the two overlap. On a small virtual
//! machine the scheduler may not let them: it keeps woken and new threads
//! on the busy CPU rather than wake an idle one, whose vCPU is halted and
//! slow to wake, so a helper waited for the main thread's CPU while the
//! other sat idle (on a 2-core Firecracker VM whose kernel packs tasks onto
//! few vCPUs, a woken thread was seen queued 0.5 ms behind the running one,
//! the other core idle). A helper spawned here leaves the CPU its spawner
//! was on out of its affinity mask, so the two run side by side: there, a
//! no-agent run, a one-agent run and a resume of 100 calls each 0.18 ms
//! shorter (medians of 61 alternated rounds).
//!
//! Only threads that start no process are helpers: a child inherits the
//! mask of the thread that spawns it, and an agent must be free to use
//! every CPU. (A thread a helper starts inherits the helper's mask; the
//! guest's epoch ticker, started by the load, is one, and only sleeps.)
//! With a single usable CPU, or where affinity cannot be read, a helper is
//! an ordinary thread.
//!
//! Helpers then share the CPUs left, and one may be wanted later than
//! another: the guest's thread waits for the load before the guest starts,
//! for the recorded journal only at the guest's first call. Such a helper
//! runs behind the others ([`spawn_behind`], a nice value of
//! [`BEHIND`]), which takes nothing from it while a CPU is free: on the
//! VM above a resume of 1000 calls 1.2-2.0 ms shorter in three sets of
//! 41-61 alternated rounds (the load no longer slowed by the read beside
//! it), one of 100 calls the same within noise (-0.23 to +0.12 ms). A helper whose work turns out to want every CPU (the
//! load compiling the guest with cranelift's worker threads, when the
//! shipped one does not suit this CPU) takes its whole mask back with
//! [`widen`]; the guest's thread then only waits for it.

#[cfg(target_os = "linux")]
use std::cell::Cell;
use std::io;
use std::thread::JoinHandle;

#[cfg(target_os = "linux")]
thread_local! {
    /// A helper's mask before it left its spawner's CPU out, for [`widen`].
    static WHOLE: Cell<Option<libc::cpu_set_t>> = const { Cell::new(None) };
}

/// The nice value of a helper that runs behind the others.
pub const BEHIND: i32 = 10;

/// Spawns `work` on a thread named `name` that avoids the CPU the calling
/// thread is on, the thread that runs the guest.
pub fn spawn<T: Send + 'static>(
    name: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> io::Result<JoinHandle<T>> {
    spawn_with(name, false, work)
}

/// [`spawn`], for work wanted later than the other helpers': the thread
/// runs at nice [`BEHIND`] (and so do the threads it starts).
pub fn spawn_behind<T: Send + 'static>(
    name: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> io::Result<JoinHandle<T>> {
    spawn_with(name, true, work)
}

fn spawn_with<T: Send + 'static>(
    name: &str,
    behind: bool,
    work: impl FnOnce() -> T + Send + 'static,
) -> io::Result<JoinHandle<T>> {
    let spawner = current_cpu();
    std::thread::Builder::new().name(name.into()).spawn(move || {
        if let Some(cpu) = spawner {
            avoid(cpu);
        }
        if behind {
            step_back();
        }
        work()
    })
}

/// Lowers this thread's priority to nice [`BEHIND`], never raises it (a
/// process already nicer than that keeps its value). Best effort, as
/// `avoid`: a thread that cannot runs as it is.
#[cfg(target_os = "linux")]
fn step_back() {
    // SAFETY: plain calls; on Linux `PRIO_PROCESS` with id 0 names the
    // calling thread alone.
    unsafe {
        if libc::getpriority(libc::PRIO_PROCESS, 0) < BEHIND {
            libc::setpriority(libc::PRIO_PROCESS, 0, BEHIND);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn step_back() {}

#[cfg(target_os = "linux")]
fn current_cpu() -> Option<usize> {
    // SAFETY: no arguments; returns the CPU number or -1.
    usize::try_from(unsafe { libc::sched_getcpu() }).ok()
}

/// Gives a helper back every CPU of its mask (and to the threads it starts
/// from then on); nothing for any other thread.
#[cfg(target_os = "linux")]
pub fn widen() {
    if let Some(whole) = WHOLE.with(Cell::take) {
        // SAFETY: `whole` is the mask this thread had, of its own size.
        unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &whole) };
    }
}

#[cfg(not(target_os = "linux"))]
pub fn widen() {}

/// Takes `cpu` out of this thread's affinity mask, unless nothing would be
/// left in it. Best effort: a thread that cannot change its mask runs
/// where the scheduler puts it, as any thread does.
#[cfg(target_os = "linux")]
fn avoid(cpu: usize) {
    let size = std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: `set` is a plain bit set of `size` bytes, read and written by
    // the kernel for this thread (pid 0); `CPU_*` only touch its bits, and
    // `cpu` is checked against the set's capacity first.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if cpu >= 8 * size
            || libc::sched_getaffinity(0, size, &mut set) != 0
            || !libc::CPU_ISSET(cpu, &set)
            || libc::CPU_COUNT(&set) < 2
        {
            return;
        }
        let whole = set;
        libc::CPU_CLR(cpu, &mut set);
        if libc::sched_setaffinity(0, size, &set) == 0 {
            WHOLE.with(|w| w.set(Some(whole)));
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn current_cpu() -> Option<usize> {
    None
}

#[cfg(not(target_os = "linux"))]
fn avoid(_cpu: usize) {}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// The CPUs in this thread's affinity mask.
    fn usable() -> Vec<usize> {
        // SAFETY: as in `avoid`; `CPU_ISSET` only reads bits of the set.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            assert_eq!(libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set), 0);
            (0..8 * std::mem::size_of::<libc::cpu_set_t>()).filter(|&c| libc::CPU_ISSET(c, &set)).collect()
        }
    }

    /// `avoid` takes out that CPU and only that one; a thread with a
    /// single usable CPU keeps it.
    #[test]
    fn avoiding_a_cpu_leaves_every_other_one() {
        let before = usable();
        let after = std::thread::spawn({
            let first = before[0];
            move || {
                avoid(first);
                let avoided = usable();
                widen();
                (avoided, usable())
            }
        })
        .join()
        .unwrap();
        let expected = if before.len() < 2 { before.clone() } else { before[1..].to_vec() };
        assert_eq!(after.0, expected);
        assert_eq!(after.1, before, "widened, the thread has its whole mask back");
    }

    /// The nice value of the calling thread.
    fn nice() -> i32 {
        // SAFETY: plain call; id 0 names the calling thread.
        unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) }
    }

    /// A helper spawned behind the others runs at nice `BEHIND`, and only
    /// it: the spawner and an ordinary helper keep their own.
    #[test]
    fn a_helper_behind_the_others_runs_at_a_lower_priority() {
        let here = nice();
        assert_eq!(spawn_behind("odw-test-behind", nice).unwrap().join().unwrap(), BEHIND.max(here));
        assert_eq!(spawn("odw-test-helper", nice).unwrap().join().unwrap(), here);
        assert_eq!(nice(), here);
    }

    /// A helper runs its work and gives back its value, on every usable CPU
    /// but one (the one its spawner was on, wherever that was by then).
    #[test]
    fn a_helper_leaves_out_one_cpu_and_returns_its_work() {
        let before = usable();
        let (helper, named) =
            spawn("odw-test-helper", || (usable(), std::thread::current().name().map(str::to_owned)))
                .unwrap()
                .join()
                .unwrap();
        assert_eq!(named.as_deref(), Some("odw-test-helper"));
        assert_eq!(helper.len(), before.len().saturating_sub(1).max(1), "{helper:?} of {before:?}");
        assert!(helper.iter().all(|c| before.contains(c)));
    }
}
