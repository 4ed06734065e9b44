//! The threads large matrix products are split over: started once, then woken for each
//! product, so that a product allocates nothing (a thread pool that boxes its jobs, or
//! scoped threads, would allocate at every call).
//!
//! Waking a sleeping thread costs tens of microseconds (about 60 µs a round trip on a
//! virtual machine, where an idle core halts), as much as a whole product of a small
//! network. So both sides spin briefly before they sleep: a worker, for [`SPIN`] after its
//! part, for the next job; the caller, for its workers' parts to finish. A step's products
//! follow each other closely enough that the workers are still spinning when the next one
//! comes.
//!
//! A job borrows the caller's data, and a thread that outlives the call cannot hold a
//! borrow in safe Rust, so the job's lifetime is erased. The invariant that makes it sound,
//! checked by the tests below and kept by [`run`]'s structure:
//!
//! **`run` does not return, by value or by unwinding, before every worker it gave the job
//! to has finished with it.** The job is handed over as a reference with its lifetime
//! erased; each worker clears its slot and marks it done, under the slot's lock, after its
//! last use of the job. Every job is posted through a [`Posted`], created before the first
//! and waiting, when it is dropped, for the done mark of each worker it posted to, or for
//! the worker's death (after which the worker never reads the job), so that no way out of
//! `run`, a panic included, can skip the wait.
//!
//! A worker that dies (a panic outside the job it runs) marks itself so; its part, if it
//! had not begun it, runs on the caller, and the next job starts a new thread for it. A
//! process forked from one whose pool has started has none of its threads: in the child,
//! every job runs on the calling thread.
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock, TryLockError};
use std::time::{Duration, Instant};

/// A job: run part `i` of `n`.
type Job = dyn Fn(usize) + Sync;

/// The most parts a job is split into.
pub(crate) const MAX_PARTS: usize = 16;

/// How long a thread spins, waiting for a job or for a part to finish, before it sleeps.
const SPIN: Duration = Duration::from_micros(200);

#[derive(Default)]
struct Slot {
    /// The job and the part to run; `'static` only in name, see the module's invariant.
    job: Option<(&'static Job, usize)>,
    /// Set by the worker when it has finished with the job.
    done: bool,
    panicked: bool,
    /// The worker waits on `wake`: a new job must notify it.
    asleep: bool,
    /// The caller waits on `finished`: the worker must notify it when done.
    waited: bool,
    /// A thread serves this slot: set when it is started, cleared when it dies.
    running: bool,
    /// Makes the worker panic outside its job, as a worker that dies would.
    #[cfg(test)]
    die: bool,
}

#[derive(Default)]
struct Worker {
    slot: Mutex<Slot>,
    wake: Condvar,
    finished: Condvar,
    /// Hints, read while spinning, of what the slot says under its lock: a job is there,
    /// or the part is done. The lock's state decides; these only end a spin early.
    posted: AtomicBool,
    finished_hint: AtomicBool,
}

struct Pool {
    workers: Vec<&'static Worker>,
    /// Held for the whole of a `run`: one job at a time.
    busy: Mutex<()>,
    /// The process whose threads these are: a child forked from it has none of them.
    process: u32,
}

static POOL: OnceLock<Pool> = OnceLock::new();

fn pool() -> &'static Pool {
    POOL.get_or_init(|| {
        let workers: Vec<&'static Worker> = (1..MAX_PARTS)
            .map(|_| &*Box::leak(Box::<Worker>::default()))
            .collect();
        Pool {
            workers,
            busy: Mutex::new(()),
            process: std::process::id(),
        }
    })
}

/// Starts a thread for worker `w`, whose slot is locked as `slot`, when it has none: at
/// its first job (a program that multiplies only small matrices starts none), or after
/// its thread died. False when no thread could be started.
fn started(w: usize, worker: &'static Worker, slot: &mut Slot) -> bool {
    if !slot.running {
        slot.running = std::thread::Builder::new()
            .name(format!("backprop-{w}"))
            .spawn(move || serve(worker))
            .is_ok();
    }
    slot.running
}

/// Marks its worker dead when the worker's thread ends, which it does only by a panic
/// outside the job: the caller waiting for it stops waiting.
struct Alive(&'static Worker);

impl Drop for Alive {
    fn drop(&mut self) {
        let worker = self.0;
        let mut slot = lock(&worker.slot);
        slot.running = false;
        worker.finished_hint.store(true, Ordering::Release);
        if slot.waited {
            worker.finished.notify_one();
        }
    }
}

fn serve(worker: &'static Worker) {
    let _alive = Alive(worker);
    let mut slot = lock(&worker.slot);
    loop {
        #[cfg(test)]
        if std::mem::take(&mut slot.die) {
            panic!("a worker dies");
        }
        if let Some((job, part)) = slot.job {
            worker.posted.store(false, Ordering::Relaxed);
            drop(slot);
            let outcome = catch_unwind(AssertUnwindSafe(|| job(part)));
            slot = lock(&worker.slot);
            // The last use of `job`: from here `run` may return and the borrow end.
            slot.job = None;
            slot.done = true;
            slot.panicked = outcome.is_err();
            worker.finished_hint.store(true, Ordering::Release);
            if slot.waited {
                worker.finished.notify_one();
            }
            drop(slot);
            spin_until(&worker.posted);
            slot = lock(&worker.slot);
            continue;
        }
        slot.asleep = true;
        slot = worker
            .wake
            .wait(slot)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        slot.asleep = false;
    }
}

/// Spins until `flag` is set or [`SPIN`] has passed.
fn spin_until(flag: &AtomicBool) {
    let start = Instant::now();
    loop {
        for _ in 0..64 {
            if flag.load(Ordering::Acquire) {
                return;
            }
            std::hint::spin_loop();
        }
        if start.elapsed() >= SPIN {
            return;
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Runs `job(0)`, ..., `job(parts - 1)`, part 0 on the calling thread and the others on
/// the pool's threads, and returns when all are done. With one part, while another `run`
/// is under way, in a process forked from the one that started the pool, or when a
/// thread cannot be started, the parts run one after another on the calling thread.
///
/// # Panics
/// When a part panics, after every part has finished.
pub(crate) fn run<'a>(parts: usize, job: &(dyn Fn(usize) + Sync + 'a)) {
    let parts = parts.clamp(1, MAX_PARTS);
    let pool = pool();
    let guard = if parts == 1 || pool.process != std::process::id() {
        None
    } else {
        match pool.busy.try_lock() {
            Ok(g) => Some(g),
            Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    };
    let Some(guard) = guard else {
        // Every part runs, as on the pool, before a panic goes on.
        let mut first = None;
        for p in 0..parts {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| job(p))) {
                first.get_or_insert(payload);
            }
        }
        if let Some(payload) = first {
            resume_unwind(payload);
        }
        return;
    };
    // SAFETY: the reference is used by workers only until they mark their slot done or
    // die, and `posted` waits for that on every way out of this function.
    let erased: &'static Job =
        unsafe { std::mem::transmute::<&(dyn Fn(usize) + Sync + 'a), &'static Job>(job) };
    let mut posted = Posted {
        pool,
        given: [false; MAX_PARTS],
    };
    for (w, worker) in pool.workers.iter().enumerate().take(parts - 1) {
        let mut slot = lock(&worker.slot);
        if !started(w, worker, &mut slot) {
            continue;
        }
        slot.job = Some((erased, w + 1));
        slot.done = false;
        slot.panicked = false;
        posted.given[w] = true;
        worker.finished_hint.store(false, Ordering::Relaxed);
        worker.posted.store(true, Ordering::Release);
        if slot.asleep {
            worker.wake.notify_one();
        }
    }
    let given = posted.given;
    let own = catch_unwind(AssertUnwindSafe(|| {
        job(0);
        // Parts whose thread could not be started run here.
        (1..parts).filter(|&p| !given[p - 1]).for_each(job);
    }));
    let (orphans, worker_panicked) = posted.wait();
    let mut panicked = own.is_err() || worker_panicked;
    // The parts of workers that died before taking them run here.
    for part in orphans.into_iter().flatten() {
        panicked |= catch_unwind(AssertUnwindSafe(|| job(part))).is_err();
    }
    drop(guard);
    if let Err(payload) = own {
        resume_unwind(payload);
    }
    assert!(!panicked, "a part of a split matrix product panicked");
}

/// The workers a job was posted to; dropped, it waits for each of them.
struct Posted {
    pool: &'static Pool,
    given: [bool; MAX_PARTS],
}

impl Posted {
    /// Waits for every worker given the job to be done with it, or dead; returns the parts
    /// of the workers that died before they took theirs, and whether a worker's part
    /// panicked.
    fn wait(&mut self) -> ([Option<usize>; MAX_PARTS], bool) {
        let mut orphans = [None; MAX_PARTS];
        let mut panicked = false;
        for (w, worker) in self.pool.workers.iter().enumerate() {
            if !std::mem::take(&mut self.given[w]) {
                continue;
            }
            spin_until(&worker.finished_hint);
            let mut slot: MutexGuard<'_, Slot> = lock(&worker.slot);
            while !slot.done && slot.running {
                slot.waited = true;
                slot = worker
                    .finished
                    .wait(slot)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
            }
            slot.waited = false;
            panicked |= slot.panicked;
            if !slot.done {
                // Dead before it took the job, which it never reads now.
                orphans[w] = slot.job.take().map(|(_, part)| part);
                slot.done = true;
            }
        }
        (orphans, panicked)
    }
}

impl Drop for Posted {
    fn drop(&mut self) {
        // On a panic's way out: the workers' parts are waited for, a dead one's dropped.
        self.wait();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn every_part_runs_once_and_borrows_end_with_the_call() {
        for parts in 1..=MAX_PARTS + 2 {
            let hits: Vec<AtomicUsize> = (0..MAX_PARTS).map(|_| AtomicUsize::new(0)).collect();
            run(parts, &|i| {
                hits[i].fetch_add(1, Ordering::Relaxed);
            });
            let want = parts.min(MAX_PARTS);
            for (i, h) in hits.iter().enumerate() {
                assert_eq!(
                    h.load(Ordering::Relaxed),
                    usize::from(i < want),
                    "part {i} of {parts}"
                );
            }
        }
    }

    /// Jobs that come while the workers spin, and after they have gone to sleep, both
    /// run; a part longer than the caller's spin is waited for.
    #[test]
    fn spinning_and_sleeping_workers_both_take_jobs() {
        let hits = AtomicUsize::new(0);
        for pause in [Duration::ZERO, SPIN * 5, Duration::ZERO, SPIN * 5] {
            std::thread::sleep(pause);
            run(3, &|i| {
                if i == 2 {
                    std::thread::sleep(SPIN * 3);
                }
                hits.fetch_add(1, Ordering::SeqCst);
            });
        }
        assert_eq!(hits.load(Ordering::SeqCst), 12);
    }

    /// A worker that dies before it takes its part: the part runs on the caller, and the
    /// next job starts a new thread for the worker.
    #[test]
    fn a_dead_worker_is_replaced_and_its_part_still_runs() {
        let worker = pool().workers[0];
        let mut died = false;
        for _ in 0..1000 {
            // Another test's job may hold the pool: then the parts run here, and it waits.
            run(2, &|_| {});
            lock(&worker.slot).die = true;
            let hits: Vec<AtomicUsize> = (0..3).map(|_| AtomicUsize::new(0)).collect();
            run(3, &|i| {
                hits[i].fetch_add(1, Ordering::SeqCst);
            });
            assert!(hits.iter().all(|h| h.load(Ordering::SeqCst) == 1));
            let mut slot = lock(&worker.slot);
            if !std::mem::take(&mut slot.die) {
                died = true;
                break;
            }
        }
        assert!(died, "the worker never took a job");
        let ran = AtomicUsize::new(0);
        run(2, &|i| {
            if i == 1 {
                ran.fetch_add(1, Ordering::SeqCst);
            }
        });
        assert_eq!(ran.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_panicking_part_waits_for_the_others() {
        let finished = AtomicUsize::new(0);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            run(4, &|i| {
                if i == 0 {
                    panic!("part 0");
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
                finished.fetch_add(1, Ordering::SeqCst);
            })
        }));
        assert!(outcome.is_err());
        assert_eq!(finished.load(Ordering::SeqCst), 3);
    }
}
