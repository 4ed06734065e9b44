//! Elementwise functions and their derivatives, one scalar at a time, with PyTorch's
//! conventions at the kinks (`relu'(0) = 0`, `sign(0) = 0`): the closures of the generated
//! code call them on every element. They are `backprop-scalar`'s, which the compiler
//! shares to fold constants, so each function is written once.

pub use backprop_scalar::*;
