//! The crate's one module with `unsafe` code, in two parts, each with its invariant written
//! at its top and tested beside it:
//!
//! - [`pool`]: the threads large products are split over. A job borrows the caller's data
//!   across threads; `run` does not return before every worker is done with it.
//! - [`simd`]: a matrix-product kernel in AVX-512 for the long, skinny products of a dense
//!   network's weight gradients. Its safe entry point checks every bound an instruction
//!   reads or writes before the first one runs.
#![allow(unsafe_code)]

pub(crate) mod pool;
pub(crate) mod simd;
