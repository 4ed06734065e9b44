//! A global allocator that counts allocations on every thread while counting is on, and
//! SGD that turns it on for steps 2 to 100 of a training loop: for the tests that a step
//! after the first allocates nothing. Included by path, so that only those tests replace
//! the allocator.
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use backprop::optim::{OptimError, Optimizer, Sgd};
use backprop::params::Parameters;

pub static COUNTING: AtomicBool = AtomicBool::new(false);
pub static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

pub struct Counting;

// SAFETY: every call is forwarded to `System` unchanged; the counter only observes.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// SGD, counting the allocations from the end of its first update to the end of its
/// 100th: steps 2 to 100 of a training loop.
pub struct Counted {
    pub sgd: Sgd<f32>,
    pub steps: usize,
}

impl Optimizer<f32> for Counted {
    fn step<M: Parameters<f32>>(
        &mut self,
        model: &mut M,
        grads: &M::Grads,
    ) -> Result<(), OptimError> {
        let stepped = self.sgd.step(model, grads);
        self.steps += 1;
        match self.steps {
            1 => {
                ALLOCATIONS.store(0, Ordering::SeqCst);
                COUNTING.store(true, Ordering::SeqCst);
            }
            100 => COUNTING.store(false, Ordering::SeqCst),
            _ => {}
        }
        stepped
    }

    fn lr(&self) -> f64 {
        self.sgd.lr()
    }

    fn set_lr(&mut self, lr: f64) -> Result<(), OptimError> {
        self.sgd.set_lr(lr)
    }

    fn reset(&mut self) {
        self.sgd.reset();
    }
}
