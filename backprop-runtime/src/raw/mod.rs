//! The crate's one module with `unsafe` code, in two parts, each with its invariant written
//! at its top and tested beside it:
//!
//! - [`pool`]: the threads large products are split over. A job borrows the caller's data
//!   across threads; `run` does not return before every worker is done with it.
//! - [`simd`]: matrix-product kernels in AVX-512 for the products of a dense network that
//!   general GEMMs serve worst: long and skinny (a layer of at most 64 units over a large
//!   batch, and its weight gradient), or with a short inner sum (the weight gradient of a
//!   small batch). Their safe entry points check every bound an instruction reads or
//!   writes before the first one runs.
#![allow(unsafe_code)]

pub(crate) mod pool;
pub(crate) mod simd;
