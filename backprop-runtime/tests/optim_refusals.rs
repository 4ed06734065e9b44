//! The optimizers' refusals: shapes that do not fit change nothing, updates that would
//! make a parameter or its state NaN or infinite change nothing, invalid hyper-parameters
//! (in `f64` and in the model's element type) are refused, and steps after the first
//! allocate nothing.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use backprop_runtime::optim::{
    Adam, AdamConfig, AdamW, AdamWConfig, OptimError, Optimizer, Sgd, SgdConfig,
};
use backprop_runtime::ShapeError;
use ndarray::{Array1, Array2};

#[path = "fixtures/optim.rs"]
mod fixtures;

use fixtures::*;

// ---------------------------------------------------------------------------------------
// Allocation counting, per thread (tests run on several threads).
// ---------------------------------------------------------------------------------------

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count_allocation() {
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

/// The system allocator, counting this thread's allocations.
struct Counting;

// SAFETY: every method forwards to `System` with the caller's arguments unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_allocation();
        // SAFETY: forwarded from the caller.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_allocation();
        // SAFETY: forwarded from the caller.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_allocation();
        // SAFETY: forwarded from the caller.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded from the caller.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// After one good step, a step with `bad` gradients fails with an error `check` accepts
/// and changes neither the model nor the optimizer; the next good step then gives what
/// an uninterrupted run gives.
fn refuses<O: Optimizer<f64> + Clone + std::fmt::Debug>(
    mut opt: O,
    bad: impl Fn(&mut Tiny<f64>, &mut Tiny<f64>),
    check: impl Fn(&OptimError),
) {
    let mut reference = opt.clone();
    let want = run(&mut reference, &[]);

    let mut model = Tiny::new();
    let grads = model.grads();
    opt.step(&mut model, &grads).unwrap();
    let (model_before, opt_before) = (model.clone(), format!("{opt:?}"));

    let (mut bad_model, mut bad_grads) = (model.clone(), model.grads());
    bad(&mut bad_model, &mut bad_grads);
    let before_bad = bad_model.clone();
    let err = opt.step(&mut bad_model, &bad_grads).unwrap_err();
    check(&err);
    assert_eq!(bad_model, before_bad, "the model changed");
    assert_eq!(format!("{opt:?}"), opt_before, "the optimizer changed");
    assert_eq!(model, model_before);

    let grads = model.grads();
    opt.step(&mut model, &grads).unwrap();
    assert_eq!(model.flat(), want[1]);
}

fn wrong_gradient(_: &mut Tiny<f64>, grads: &mut Tiny<f64>) {
    // `b` is visited after `w`: `w` must not have moved either.
    grads.b = Array1::zeros(4);
}

fn is_wrong_gradient(err: &OptimError) {
    match err {
        OptimError::Shape(ShapeError::Dims { tensor, actual, .. }) => {
            assert_eq!(tensor, "grads.b");
            assert_eq!(actual, &[4]);
        }
        other => panic!("unexpected error {other:?}"),
    }
}

fn reshaped_parameter(model: &mut Tiny<f64>, grads: &mut Tiny<f64>) {
    model.b = Array1::zeros(4);
    grads.b = Array1::zeros(4);
}

fn is_stale_state(buffer: &'static str) -> impl Fn(&OptimError) {
    move |err| match err {
        OptimError::State {
            parameter,
            buffer: b,
            expected,
            actual,
            ..
        } => {
            assert_eq!(*parameter, "b");
            assert_eq!(*b, buffer);
            assert_eq!(expected, &[4]);
            assert_eq!(actual, &[3]);
            assert!(err.to_string().contains("`b`"), "{err}");
        }
        other => panic!("unexpected error {other:?}"),
    }
}

#[test]
fn a_gradient_of_the_wrong_shape_changes_nothing() {
    let momentum = SgdConfig {
        lr: 0.1,
        momentum: 0.9,
        nesterov: true,
        ..SgdConfig::default()
    };
    refuses(sgd(momentum), wrong_gradient, is_wrong_gradient);
    refuses(Sgd::new(0.1).unwrap(), wrong_gradient, is_wrong_gradient);
    let amsgrad = AdamConfig {
        lr: 0.1,
        amsgrad: true,
        ..AdamConfig::default()
    };
    refuses(adam(amsgrad), wrong_gradient, is_wrong_gradient);
    refuses(AdamW::new(0.1).unwrap(), wrong_gradient, is_wrong_gradient);
}

#[test]
fn a_state_of_the_wrong_shape_is_an_error_naming_the_parameter() {
    let momentum = SgdConfig {
        lr: 0.1,
        momentum: 0.9,
        ..SgdConfig::default()
    };
    refuses(
        sgd(momentum),
        reshaped_parameter,
        is_stale_state("momentum_buffer"),
    );
    refuses(
        Adam::new(0.1).unwrap(),
        reshaped_parameter,
        is_stale_state("exp_avg"),
    );
    refuses(
        AdamW::new(0.1).unwrap(),
        reshaped_parameter,
        is_stale_state("exp_avg"),
    );

    // Without momentum SGD keeps no state, and `reset` forgets the old shapes.
    let mut model = Tiny::<f64>::new();
    reshaped_parameter(&mut model, &mut Tiny::default());
    let grads = model.grads_of_shape();
    Sgd::new(0.1).unwrap().step(&mut model, &grads).unwrap();
    let mut opt = Adam::<f64>::new(0.1).unwrap();
    let mut small = Tiny::new();
    let small_grads = small.grads();
    opt.step(&mut small, &small_grads).unwrap();
    assert!(opt.step(&mut model, &grads).is_err());
    opt.reset();
    assert!(opt.state("w").is_none());
    opt.step(&mut model, &grads).unwrap();
    assert_eq!(opt.state("b").unwrap().exp_avg().shape(), [4]);
}

impl Tiny<f64> {
    /// Ones of the parameters' shapes.
    fn grads_of_shape(&self) -> Self {
        Tiny {
            w: Array2::ones(self.w.raw_dim()),
            b: Array1::ones(self.b.raw_dim()),
        }
    }
}

fn invalid(result: Result<impl std::fmt::Debug, OptimError>, name: &str) {
    match result {
        Err(OptimError::HyperParameter { name: n, .. }) => assert_eq!(n, name),
        other => panic!("{name}: expected an invalid hyper-parameter, got {other:?}"),
    }
}

#[test]
fn invalid_hyper_parameters_are_refused() {
    let s = SgdConfig::default();
    invalid(Sgd::<f64>::new(-0.1), "lr");
    invalid(Sgd::<f64>::new(f64::NAN), "lr");
    invalid(Sgd::<f64>::new(f64::INFINITY), "lr");
    let momentum = SgdConfig {
        momentum: -0.5,
        ..s
    };
    invalid(Sgd::<f64>::with_config(momentum), "momentum");
    let decay = SgdConfig {
        weight_decay: -1e-4,
        ..s
    };
    invalid(Sgd::<f64>::with_config(decay), "weight_decay");
    let dampening = SgdConfig {
        dampening: f64::NAN,
        ..s
    };
    invalid(Sgd::<f64>::with_config(dampening), "dampening");
    for (momentum, dampening) in [(0.0, 0.0), (0.9, 0.1)] {
        let nesterov = SgdConfig {
            momentum,
            dampening,
            nesterov: true,
            ..s
        };
        let err = Sgd::<f64>::with_config(nesterov).unwrap_err();
        assert_eq!(
            err,
            OptimError::Nesterov {
                momentum,
                dampening
            }
        );
    }
    // Torch allows dampening without Nesterov, and a zero learning rate.
    let dampening = SgdConfig {
        lr: 0.0,
        momentum: 0.9,
        dampening: 1.5,
        ..s
    };
    assert!(Sgd::<f64>::with_config(dampening).is_ok());

    let a = AdamConfig::default();
    invalid(Adam::<f64>::new(-1.0), "lr");
    invalid(
        Adam::<f32>::with_config(AdamConfig { eps: -1e-8, ..a }),
        "eps",
    );
    for (betas, name) in [
        ((1.0, 0.999), "betas.0"),
        ((-0.1, 0.999), "betas.0"),
        ((0.9, 1.0), "betas.1"),
        ((0.9, f64::NAN), "betas.1"),
    ] {
        invalid(Adam::<f64>::with_config(AdamConfig { betas, ..a }), name);
        let w = AdamWConfig {
            betas,
            ..AdamWConfig::default()
        };
        invalid(AdamW::<f64>::with_config(w), name);
    }
    let decay = AdamConfig {
        weight_decay: -0.1,
        ..a
    };
    invalid(Adam::<f64>::with_config(decay), "weight_decay");
    let decay = AdamWConfig {
        weight_decay: -0.1,
        ..AdamWConfig::default()
    };
    invalid(AdamW::<f64>::with_config(decay), "weight_decay");
    assert!(Adam::<f64>::with_config(AdamConfig {
        betas: (0.0, 0.0),
        ..a
    })
    .is_ok());

    let err = Adam::<f64>::new(-1.0).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Adam: invalid lr -1: it must be finite and >= 0"
    );
}

#[test]
fn set_lr_refuses_invalid_rates_and_keeps_the_old_one() {
    let mut sgd = Sgd::<f64>::new(0.1).unwrap();
    invalid(sgd.set_lr(-0.5), "lr");
    assert_eq!(sgd.lr(), 0.1);
    sgd.set_lr(0.2).unwrap();
    assert_eq!((sgd.lr(), sgd.config().lr), (0.2, 0.2));

    let mut adam = Adam::<f64>::new(0.1).unwrap();
    invalid(adam.set_lr(f64::NAN), "lr");
    assert_eq!(adam.lr(), 0.1);
    let mut adamw = AdamW::<f64>::new(0.1).unwrap();
    invalid(adamw.set_lr(f64::NEG_INFINITY), "lr");
    assert_eq!(adamw.lr(), 0.1);
}

/// `b`'s last element at the largest `f64`, pushed further by its gradient: its update
/// overflows, after `w`'s would have been fine (`w` is visited first, and must not move).
fn overflowing_update(model: &mut Tiny<f64>, grads: &mut Tiny<f64>) {
    model.b[2] = f64::MAX;
    grads.b[2] = -f64::MAX;
}

/// A gradient so large that its square, Adam's second moment, overflows.
fn overflowing_moment(_: &mut Tiny<f64>, grads: &mut Tiny<f64>) {
    grads.b[2] = 1e300;
}

fn is_non_finite(buffer: Option<&'static str>, value: f64) -> impl Fn(&OptimError) {
    move |err| match err {
        OptimError::NonFinite {
            parameter,
            buffer: b,
            index,
            value: v,
            ..
        } => {
            assert_eq!((*parameter, *b, &index[..]), ("b", buffer, &[2][..]));
            assert!(v.is_infinite() && v.signum() == value.signum(), "{v}");
            let what = match buffer {
                Some(buffer) => format!("`b`'s `{buffer}`"),
                None => "`b`".to_string(),
            };
            assert!(
                err.to_string().contains(&format!(
                    "would make {what} {v} at [2]; nothing was changed"
                )),
                "{err}"
            );
        }
        other => panic!("unexpected error {other:?}"),
    }
}

#[test]
fn an_update_that_would_not_be_finite_changes_nothing() {
    let momentum = SgdConfig {
        lr: 0.1,
        momentum: 0.9,
        ..SgdConfig::default()
    };
    refuses(
        sgd(SgdConfig {
            lr: 0.1,
            ..SgdConfig::default()
        }),
        overflowing_update,
        is_non_finite(None, f64::INFINITY),
    );
    refuses(
        sgd(momentum),
        overflowing_update,
        is_non_finite(None, f64::INFINITY),
    );
    let adam_config = AdamConfig {
        lr: 0.1,
        ..AdamConfig::default()
    };
    refuses(
        adam(adam_config),
        overflowing_moment,
        is_non_finite(Some("exp_avg_sq"), f64::INFINITY),
    );
    let amsgrad = AdamConfig {
        amsgrad: true,
        ..adam_config
    };
    refuses(
        adam(amsgrad),
        overflowing_moment,
        is_non_finite(Some("exp_avg_sq"), f64::INFINITY),
    );
    let adamw_config = AdamWConfig {
        lr: 0.1,
        ..AdamWConfig::default()
    };
    refuses(
        adamw(adamw_config),
        overflowing_moment,
        is_non_finite(Some("exp_avg_sq"), f64::INFINITY),
    );
}

/// Adam without `eps` and a unit whose gradient is 0 from the start: `0 / 0` on the first
/// step, refused before any parameter or state exists.
#[test]
fn adam_without_eps_refuses_a_dead_unit_before_it_is_nan() {
    let mut opt = adam(AdamConfig {
        lr: 0.1,
        eps: 0.0,
        ..AdamConfig::default()
    });
    let mut model = Tiny::new();
    let mut grads = model.grads();
    grads.w[[1, 0]] = 0.0;
    let before = model.clone();
    let err = opt.step(&mut model, &grads).unwrap_err();
    match &err {
        OptimError::NonFinite {
            parameter,
            buffer,
            index,
            value,
            ..
        } => {
            assert_eq!((*parameter, *buffer, &index[..]), ("w", None, &[1, 0][..]));
            assert!(value.is_nan());
        }
        other => panic!("unexpected error {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "Adam::step: the update would make `w` NaN at [1, 0]; nothing was changed; check the learning rate, the gradients' scale and eps"
    );
    assert_eq!(model, before);
    assert!(opt.state("w").is_none() && opt.state("b").is_none());
}

/// A value valid as an `f64` but infinite as an `f32` is refused for an `f32` model.
#[test]
fn hyper_parameters_are_checked_in_the_element_type() {
    invalid(Sgd::<f32>::new(1e39), "lr");
    assert!(Sgd::<f64>::new(1e39).is_ok());
    assert!(Sgd::<f32>::new(3e38).is_ok());
    let momentum = SgdConfig {
        momentum: 1e39,
        ..SgdConfig::default()
    };
    invalid(Sgd::<f32>::with_config(momentum), "momentum");
    invalid(Adam::<f32>::new(1e39), "lr");
    let eps = AdamConfig {
        eps: 1e40,
        ..AdamConfig::default()
    };
    invalid(Adam::<f32>::with_config(eps), "eps");
    let decay = AdamWConfig {
        weight_decay: 1e39,
        ..AdamWConfig::default()
    };
    invalid(AdamW::<f32>::with_config(decay), "weight_decay");
    let err = Sgd::<f32>::new(1e39).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Sgd: invalid lr 1000000000000000000000000000000000000000: it must be finite in the model's element type (an f32 is at most 3.4028235e38)"
    );
    let mut sgd = Sgd::<f32>::new(0.1).unwrap();
    invalid(sgd.set_lr(1e39), "lr");
    assert_eq!(sgd.lr(), 0.1);
    let mut adam = Adam::<f32>::new(0.1).unwrap();
    invalid(adam.set_lr(1e39), "lr");
    assert_eq!(adam.lr(), 0.1);
}

// ---------------------------------------------------------------------------------------
// State and allocation
// ---------------------------------------------------------------------------------------

#[test]
fn sgd_keeps_a_momentum_buffer_only_with_momentum() {
    let mut model = Tiny::<f64>::new();
    let grads = model.grads();
    let mut plain = Sgd::new(0.1).unwrap();
    plain.step(&mut model, &grads).unwrap();
    assert!(plain.momentum_buffer("w").is_none());

    let mut model = Tiny::<f64>::new();
    let config = SgdConfig {
        lr: 0.1,
        momentum: 0.9,
        ..SgdConfig::default()
    };
    let mut opt = sgd(config);
    opt.step(&mut model, &grads).unwrap();
    // Torch sets the buffer to the first gradient.
    assert_eq!(opt.momentum_buffer("w").unwrap(), grads.w.view().into_dyn());
    assert_eq!(opt.momentum_buffer("b").unwrap(), grads.b.view().into_dyn());
    opt.reset();
    assert!(opt.momentum_buffer("w").is_none());
}

/// Steps after the first allocate nothing.
fn allocates_only_on_the_first_step<O: Optimizer<f64>>(mut opt: O) {
    let mut model = Tiny::<f64>::new();
    let grads = model.grads();
    opt.step(&mut model, &grads).unwrap();
    let before = allocations();
    for _ in 0..3 {
        opt.step(&mut model, &grads).unwrap();
    }
    assert_eq!(allocations(), before);
}

#[test]
fn steps_after_the_first_allocate_nothing() {
    let before = allocations();
    let _ = Vec::<u8>::with_capacity(1);
    assert_eq!(allocations(), before + 1, "the counter counts");

    allocates_only_on_the_first_step(Sgd::new(0.1).unwrap());
    let config = SgdConfig {
        lr: 0.1,
        momentum: 0.9,
        weight_decay: 0.1,
        nesterov: true,
        ..SgdConfig::default()
    };
    allocates_only_on_the_first_step(sgd(config));
    allocates_only_on_the_first_step(Adam::new(0.1).unwrap());
    let config = AdamWConfig {
        amsgrad: true,
        ..AdamWConfig::default()
    };
    allocates_only_on_the_first_step(adamw(config));
}
