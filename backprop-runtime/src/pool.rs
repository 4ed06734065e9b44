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
//! This is the crate's one module with `unsafe` code: a job borrows the caller's data, and
//! a thread that outlives the call cannot hold a borrow in safe Rust. The invariant that
//! makes it sound, checked by the tests below and kept by [`run`]'s structure:
//!
//! **`run` does not return, by value or by unwinding, before every worker it gave the job
//! to has finished with it.** The job is handed over as a reference with its lifetime
//! erased; each worker clears its slot and marks it done, under the slot's lock, after its
//! last use of the job; `run` waits for every done mark, and the caller's own share of the
//! work is run under `catch_unwind`, so that a panic there still waits for the workers.
#![allow(unsafe_code)]

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, OnceLock, TryLockError};
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
        }
    })
}

/// Starts worker `w`'s thread when it has none yet: threads start on first use, so a
/// program that multiplies only small matrices starts none.
fn started(w: usize, worker: &'static Worker) -> bool {
    static STARTED: [OnceLock<bool>; MAX_PARTS] = [const { OnceLock::new() }; MAX_PARTS];
    *STARTED[w].get_or_init(|| {
        std::thread::Builder::new()
            .name(format!("backprop-{w}"))
            .spawn(move || serve(worker))
            .is_ok()
    })
}

fn serve(worker: &'static Worker) {
    let mut slot = lock(&worker.slot);
    loop {
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
/// is under way, or when a thread cannot be started, the parts run one after another on
/// the calling thread.
///
/// # Panics
/// When a part panics, after every part has finished.
pub(crate) fn run<'a>(parts: usize, job: &(dyn Fn(usize) + Sync + 'a)) {
    let parts = parts.clamp(1, MAX_PARTS);
    let pool = pool();
    let guard = match pool.busy.try_lock() {
        Ok(g) => Some(g),
        Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    };
    if parts == 1 || guard.is_none() {
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
    }
    // SAFETY: the reference is used by workers only until they mark their slot done, and
    // this function waits for every such mark below before returning or unwinding.
    let erased: &'static Job =
        unsafe { std::mem::transmute::<&(dyn Fn(usize) + Sync + 'a), &'static Job>(job) };
    let mut given = [false; MAX_PARTS];
    for (w, worker) in pool.workers.iter().enumerate().take(parts - 1) {
        if !started(w, worker) {
            continue;
        }
        let mut slot = lock(&worker.slot);
        slot.job = Some((erased, w + 1));
        slot.done = false;
        slot.panicked = false;
        worker.finished_hint.store(false, Ordering::Relaxed);
        worker.posted.store(true, Ordering::Release);
        if slot.asleep {
            worker.wake.notify_one();
        }
        given[w] = true;
    }
    let own = catch_unwind(AssertUnwindSafe(|| {
        job(0);
        // Parts whose thread could not be started run here.
        (1..parts).filter(|&p| !given[p - 1]).for_each(job);
    }));
    let mut panicked = own.is_err();
    for (w, worker) in pool.workers.iter().enumerate() {
        if !given[w] {
            continue;
        }
        spin_until(&worker.finished_hint);
        let mut slot = lock(&worker.slot);
        while !slot.done {
            slot.waited = true;
            slot = worker
                .finished
                .wait(slot)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        slot.waited = false;
        panicked |= slot.panicked;
    }
    drop(guard);
    if let Err(payload) = own {
        resume_unwind(payload);
    }
    assert!(!panicked, "a part of a split matrix product panicked");
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
