//! The optimizers against `torch.optim` in float64: a tiny least-squares model written by
//! hand, its gradient recomputed from the current parameters before each step, and the
//! parameters after each of 5 steps compared with what `tests/data/optim.py` printed
//! from PyTorch (embedded below), to 1e-12 absolute and relative. With fixed gradients
//! instead, which leave only the optimizer's arithmetic, every bit. Also: shapes that do
//! not fit change nothing, invalid hyper-parameters are refused, `f32` works, and steps
//! after the first allocate nothing.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use backprop_runtime::optim::{
    Adam, AdamConfig, AdamW, AdamWConfig, OptimError, Optimizer, Sgd, SgdConfig,
};
use backprop_runtime::params::{Parameters, Tensors};
use backprop_runtime::{Float, ShapeError};
use ndarray::{Array1, Array2, ArrayViewD, ArrayViewMutD};

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

// ---------------------------------------------------------------------------------------
// The model: w [2, 3], b [3]; loss 0.5 * ||x @ w + b - y||^2 / n, as in optim.py.
// ---------------------------------------------------------------------------------------

const X: [[f64; 2]; 4] = [[0.5, -1.25], [1.5, 0.75], [-0.25, 2.0], [1.0, 1.0]];
const Y: [[f64; 3]; 4] = [
    [1.0, -0.5, 0.25],
    [0.75, 2.0, -1.5],
    [-1.0, 0.5, 1.25],
    [0.3, -0.7, 0.9],
];
const W0: [[f64; 3]; 2] = [[0.1, -0.2, 0.3], [0.4, 0.5, -0.6]];
const B0: [f64; 3] = [0.05, -0.15, 0.25];

#[derive(Debug, Clone, Default, PartialEq)]
struct Tiny<A> {
    w: Array2<A>,
    b: Array1<A>,
}

impl<A: Float> Tensors<A> for Tiny<A> {
    fn visit(&self, f: &mut dyn FnMut(&'static str, ArrayViewD<'_, A>)) {
        f("w", self.w.view().into_dyn());
        f("b", self.b.view().into_dyn());
    }

    fn visit_mut(&mut self, f: &mut dyn FnMut(&'static str, ArrayViewMutD<'_, A>)) {
        f("w", self.w.view_mut().into_dyn());
        f("b", self.b.view_mut().into_dyn());
    }
}

impl<A: Float> Parameters<A> for Tiny<A> {
    type Grads = Tiny<A>;

    fn visit_with_grads(
        &mut self,
        grads: &Tiny<A>,
        f: &mut dyn FnMut(&'static str, ArrayViewMutD<'_, A>, ArrayViewD<'_, A>),
    ) {
        f("w", self.w.view_mut().into_dyn(), grads.w.view().into_dyn());
        f("b", self.b.view_mut().into_dyn(), grads.b.view().into_dyn());
    }
}

impl<A: Float> Tiny<A> {
    /// The starting parameters.
    fn new() -> Self {
        Tiny {
            w: Array2::from_shape_fn((2, 3), |(i, j)| A::cst(W0[i][j])),
            b: Array1::from_shape_fn(3, |j| A::cst(B0[j])),
        }
    }

    /// The loss's gradient at the current parameters: with `r = x @ w + b - y`,
    /// `dw = x.T @ r / n` and `db = sum(r, rows) / n`.
    fn grads(&self) -> Self {
        let n = A::cst(X.len() as f64);
        let mut g = Tiny {
            w: Array2::zeros((2, 3)),
            b: Array1::zeros(3),
        };
        for (x, y) in X.iter().zip(&Y) {
            for (j, &yj) in y.iter().enumerate() {
                let mut r = self.b[j] - A::cst(yj);
                for (i, &xi) in x.iter().enumerate() {
                    r = r + A::cst(xi) * self.w[[i, j]];
                }
                let r = r / n;
                g.b[j] = g.b[j] + r;
                for (i, &xi) in x.iter().enumerate() {
                    g.w[[i, j]] = g.w[[i, j]] + A::cst(xi) * r;
                }
            }
        }
        g
    }

    /// w row-major, then b: a row of the expected constants.
    fn flat(&self) -> Vec<A> {
        self.w.iter().chain(&self.b).copied().collect()
    }
}

/// Runs `opt` for 5 steps from the starting parameters, setting the learning rate to
/// `lr` before step `at` (counted from 0) for each `(at, lr)` in `schedule`; returns the
/// parameters after each step.
fn run<A: Float, O: Optimizer<A>>(opt: &mut O, schedule: &[(usize, f64)]) -> Vec<Vec<A>> {
    let mut model = Tiny::<A>::new();
    let mut rows = Vec::new();
    for step in 0..5 {
        for &(_, lr) in schedule.iter().filter(|(at, _)| *at == step) {
            opt.set_lr(lr).unwrap();
        }
        let grads = model.grads();
        opt.step(&mut model, &grads).unwrap();
        rows.push(model.flat());
    }
    rows
}

/// Every number within `tol` of torch's, absolutely or relatively.
fn assert_close<A: Float, const N: usize>(case: &str, got: &[Vec<A>], want: &[[A; N]], tol: f64) {
    assert_eq!(got.len(), want.len(), "{case}: steps");
    for (step, (got, want)) in got.iter().zip(want).enumerate() {
        assert_eq!(got.len(), N, "{case}: numbers per step");
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            let (g, w) = (g.as_f64(), w.as_f64());
            let err = (g - w).abs();
            assert!(
                err <= tol || err <= tol * w.abs(),
                "{case}: step {}, number {i}: got {g:e}, torch {w:e} (error {err:e})",
                step + 1
            );
        }
    }
}

const TOL: f64 = 1e-12;

fn sgd(config: SgdConfig) -> Sgd<f64> {
    Sgd::with_config(config).unwrap()
}

fn adam(config: AdamConfig) -> Adam<f64> {
    Adam::with_config(config).unwrap()
}

fn adamw(config: AdamWConfig) -> AdamW<f64> {
    AdamW::with_config(config).unwrap()
}

// ---------------------------------------------------------------------------------------
// Against torch.optim
// ---------------------------------------------------------------------------------------

#[test]
fn sgd_plain() {
    let rows = run(&mut Sgd::<f64>::new(0.1).unwrap(), &[]);
    assert_close("SGD", &rows, &SGD_PLAIN, TOL);
}

#[test]
fn sgd_momentum() {
    let config = SgdConfig {
        lr: 0.1,
        momentum: 0.9,
        ..SgdConfig::default()
    };
    assert_close(
        "SGD momentum",
        &run(&mut sgd(config), &[]),
        &SGD_MOMENTUM,
        TOL,
    );
}

#[test]
fn sgd_momentum_with_dampening() {
    let config = SgdConfig {
        lr: 0.1,
        momentum: 0.9,
        dampening: 0.1,
        ..SgdConfig::default()
    };
    assert_close(
        "SGD dampening",
        &run(&mut sgd(config), &[]),
        &SGD_DAMPENING,
        TOL,
    );
}

#[test]
fn sgd_nesterov() {
    let config = SgdConfig {
        lr: 0.1,
        momentum: 0.9,
        nesterov: true,
        ..SgdConfig::default()
    };
    assert_close(
        "SGD Nesterov",
        &run(&mut sgd(config), &[]),
        &SGD_NESTEROV,
        TOL,
    );
}

#[test]
fn sgd_weight_decay() {
    let config = SgdConfig {
        lr: 0.1,
        weight_decay: 0.1,
        ..SgdConfig::default()
    };
    let rows = run(&mut sgd(config), &[]);
    assert_close("SGD weight decay", &rows, &SGD_WEIGHT_DECAY, TOL);
}

#[test]
fn sgd_nesterov_with_weight_decay() {
    let config = SgdConfig {
        lr: 0.1,
        momentum: 0.8,
        weight_decay: 0.05,
        nesterov: true,
        ..SgdConfig::default()
    };
    assert_close("SGD all", &run(&mut sgd(config), &[]), &SGD_ALL, TOL);
}

#[test]
fn adam_defaults() {
    let mut opt = Adam::<f64>::new(0.1).unwrap();
    assert_eq!(
        opt.config(),
        AdamConfig {
            lr: 0.1,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            amsgrad: false
        }
    );
    assert_close("Adam", &run(&mut opt, &[]), &ADAM, TOL);
    let state = opt.state("w").unwrap();
    assert_eq!(state.step(), 5);
    assert_eq!(state.exp_avg().shape(), [2, 3]);
    assert!(state.max_exp_avg_sq().is_none());
    assert_eq!(opt.state("b").unwrap().exp_avg_sq().shape(), [3]);
    assert!(opt.state("c").is_none());
}

#[test]
fn adam_weight_decay() {
    let config = AdamConfig {
        lr: 0.1,
        weight_decay: 0.1,
        ..AdamConfig::default()
    };
    let rows = run(&mut adam(config), &[]);
    assert_close("Adam weight decay", &rows, &ADAM_WEIGHT_DECAY, TOL);
}

#[test]
fn adam_amsgrad() {
    let config = AdamConfig {
        lr: 0.1,
        betas: (0.9, 0.5),
        amsgrad: true,
        ..AdamConfig::default()
    };
    let mut opt = adam(config);
    assert_close("Adam AMSGrad", &run(&mut opt, &[]), &ADAM_AMSGRAD, TOL);
    // The maximum did differ from the estimate, so the test covers it.
    let state = opt.state("w").unwrap();
    let max = state.max_exp_avg_sq().unwrap();
    assert!(max.iter().zip(&state.exp_avg_sq()).all(|(m, v)| m >= v));
    assert!(max.iter().zip(&state.exp_avg_sq()).any(|(m, v)| m > v));
}

#[test]
fn adam_lerp_weight_of_one_half_or_more() {
    let config = AdamConfig {
        lr: 0.1,
        betas: (0.3, 0.99),
        ..AdamConfig::default()
    };
    let rows = run(&mut adam(config), &[]);
    assert_close(
        "Adam betas (0.3, 0.99)",
        &rows,
        &ADAM_LARGE_LERP_WEIGHT,
        TOL,
    );
}

#[test]
fn adam_learning_rate_schedule() {
    let mut opt = Adam::<f64>::new(0.1).unwrap();
    let rows = run(&mut opt, &[(2, 0.03)]);
    assert_close("Adam schedule", &rows, &ADAM_LR_SCHEDULE, TOL);
    assert_eq!(opt.lr(), 0.03);
}

#[test]
fn adamw_defaults() {
    let mut opt = AdamW::<f64>::new(0.1).unwrap();
    assert_eq!(opt.config().weight_decay, 1e-2);
    assert_close("AdamW", &run(&mut opt, &[]), &ADAMW, TOL);
}

#[test]
fn adamw_amsgrad() {
    let config = AdamWConfig {
        lr: 0.1,
        betas: (0.9, 0.5),
        eps: 1e-3,
        weight_decay: 0.1,
        amsgrad: true,
    };
    assert_close(
        "AdamW AMSGrad",
        &run(&mut adamw(config), &[]),
        &ADAMW_AMSGRAD,
        TOL,
    );
}

#[test]
fn adam_in_f32() {
    let rows = run(&mut Adam::<f32>::new(0.1).unwrap(), &[]);
    assert_close("Adam f32", &rows, &ADAM_F32, 1e-5);
    let rows = run(&mut Sgd::<f32>::new(0.1).unwrap(), &[]);
    let plain: Vec<[f32; 9]> = SGD_PLAIN.iter().map(|r| r.map(|v| v as f32)).collect();
    assert_close("SGD f32", &rows, &plain, 1e-5);
}

// ---------------------------------------------------------------------------------------
// Fixed gradients: the optimizer's arithmetic alone
// ---------------------------------------------------------------------------------------

/// Runs `opt` from the starting parameters on the gradients `GRADS`, one row a step,
/// calling `after` after each step.
fn run_fixed<O: Optimizer<f64>>(opt: &mut O, mut after: impl FnMut(usize, &O)) -> Vec<Vec<f64>> {
    let mut model = Tiny::<f64>::new();
    let mut rows = Vec::new();
    for (step, g) in GRADS.iter().enumerate() {
        let grads = Tiny {
            w: Array2::from_shape_fn((2, 3), |(i, j)| g[3 * i + j]),
            b: Array1::from_shape_fn(3, |j| g[6 + j]),
        };
        opt.step(&mut model, &grads).unwrap();
        after(step, opt);
        rows.push(model.flat());
    }
    rows
}

/// How many representable numbers apart `a` and `b` are (both finite, of one sign).
fn ulps(a: f64, b: f64) -> u64 {
    if a.is_sign_negative() == b.is_sign_negative() {
        a.to_bits().abs_diff(b.to_bits())
    } else {
        u64::MAX
    }
}

/// Every number within `max_ulps` of torch's (0: every bit equal).
fn assert_ulps(case: &str, got: &[f64], want: &[f64], max_ulps: u64) {
    assert_eq!(got.len(), want.len(), "{case}: count");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            ulps(g, w) <= max_ulps,
            "{case}, number {i}: got {g:e}, torch {w:e} ({} ulps apart)",
            ulps(g, w)
        );
    }
}

/// The buffers of `w` and `b`, flattened as the constants are.
fn flat_state(w: ndarray::ArrayViewD<'_, f64>, b: ndarray::ArrayViewD<'_, f64>) -> Vec<f64> {
    w.iter().chain(b.iter()).copied().collect()
}

#[test]
fn sgd_arithmetic_is_torchs_bit_for_bit() {
    let dampening = SgdConfig {
        lr: 0.1,
        momentum: 0.8,
        dampening: 0.1,
        weight_decay: 0.05,
        nesterov: false,
    };
    let rows = run_fixed(&mut sgd(dampening), |_, _| ());
    for (step, (got, want)) in rows.iter().zip(&SGD_FIXED_DAMPENING).enumerate() {
        assert_ulps(&format!("SGD dampening, step {}", step + 1), got, want, 0);
    }
    let nesterov = SgdConfig {
        lr: 0.1,
        momentum: 0.9,
        dampening: 0.0,
        weight_decay: 0.05,
        nesterov: true,
    };
    let rows = run_fixed(&mut sgd(nesterov), |_, _| ());
    for (step, (got, want)) in rows.iter().zip(&SGD_FIXED_NESTEROV).enumerate() {
        assert_ulps(&format!("SGD Nesterov, step {}", step + 1), got, want, 0);
    }
}

/// Adam's buffers equal torch's bit for bit (`lerp` and the running square as torch's
/// kernels compute them); its parameters to an ulp or so, as torch's tensor `sqrt` is
/// not always correctly rounded.
#[test]
fn adam_arithmetic_is_torchs() {
    // A `lerp` weight of 0.1, below 0.5.
    let mut opt = Adam::<f64>::new(0.1).unwrap();
    let rows = run_fixed(&mut opt, |step, opt| {
        let (w, b) = (opt.state("w").unwrap(), opt.state("b").unwrap());
        let [exp_avg, exp_avg_sq] = &ADAM_FIXED_STATE[step];
        let case = format!("Adam, step {}", step + 1);
        assert_eq!((w.step(), b.step()), (step as u64 + 1, step as u64 + 1));
        let got = flat_state(w.exp_avg(), b.exp_avg());
        assert_ulps(&format!("{case}, exp_avg"), &got, exp_avg, 0);
        let got = flat_state(w.exp_avg_sq(), b.exp_avg_sq());
        assert_ulps(&format!("{case}, exp_avg_sq"), &got, exp_avg_sq, 0);
    });
    for (step, (got, want)) in rows.iter().zip(&ADAM_FIXED).enumerate() {
        assert_ulps(&format!("Adam, step {}", step + 1), got, want, 4);
    }

    // A `lerp` weight of 0.7, for which torch's kernel starts from the end.
    let config = AdamWConfig {
        lr: 0.1,
        betas: (0.3, 0.5),
        weight_decay: 0.1,
        amsgrad: true,
        ..AdamWConfig::default()
    };
    let rows = run_fixed(&mut adamw(config), |step, opt| {
        let (w, b) = (opt.state("w").unwrap(), opt.state("b").unwrap());
        let [exp_avg, exp_avg_sq, max_exp_avg_sq] = &ADAMW_FIXED_STATE[step];
        let case = format!("AdamW, step {}", step + 1);
        let got = flat_state(w.exp_avg(), b.exp_avg());
        assert_ulps(&format!("{case}, exp_avg"), &got, exp_avg, 0);
        let got = flat_state(w.exp_avg_sq(), b.exp_avg_sq());
        assert_ulps(&format!("{case}, exp_avg_sq"), &got, exp_avg_sq, 0);
        let (wm, bm) = (w.max_exp_avg_sq().unwrap(), b.max_exp_avg_sq().unwrap());
        let got = flat_state(wm, bm);
        assert_ulps(&format!("{case}, max_exp_avg_sq"), &got, max_exp_avg_sq, 0);
    });
    for (step, (got, want)) in rows.iter().zip(&ADAMW_FIXED).enumerate() {
        assert_ulps(&format!("AdamW, step {}", step + 1), got, want, 4);
    }
}

// ---------------------------------------------------------------------------------------
// Refusals
// ---------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------
// Expected values: the output of `python tests/data/optim.py` (float64 unless noted).
// ---------------------------------------------------------------------------------------

// torch 2.15.0+cu132, CPU capability DEFAULT
/// torch.optim.SGD(lr=0.1)
#[rustfmt::skip]
const SGD_PLAIN: [[f64; 9]; 5] = [
    [0.13203125, -0.13624999999999998, 0.23265624999999995, 0.2634375, 0.4859375, -0.4671875, 0.03937499999999999, -0.12, 0.264375],
    [0.16535424804687499, -0.07988867187499997, 0.16700170898437494, 0.15106347656249997, 0.4709111328125, -0.35724707031249997, 0.03614550781249999, -0.09650390625, 0.2736416015625],
    [0.1987407947540283, -0.02978672180175778, 0.10380893592834466, 0.05807484436035154, 0.45568379821777344, -0.2658275787353515, 0.03797138519287109, -0.07829311523437499, 0.2796240158081055],
    [0.23135303888022898, 0.014981714825630231, 0.04354749095380299, -0.01929896873474124, 0.44077810940742496, -0.18948626565933224, 0.043131139261722566, -0.06439620397567747, 0.2836389735531807],
    [0.2626403672490837, 0.05518019213711476, -0.013531480249567969, -0.08402836210472885, 0.42653972854706645, -0.12548764770968257, 0.05036868945845589, -0.054035208310335855, 0.2866240777984969],
];
/// torch.optim.SGD(lr=0.1, momentum=0.9)
#[rustfmt::skip]
const SGD_MOMENTUM: [[f64; 9]; 5] = [
    [0.13203125, -0.13624999999999998, 0.23265624999999995, 0.2634375, 0.4859375, -0.4671875, 0.03937499999999999, -0.12, 0.264375],
    [0.194182373046875, -0.022513671874999946, 0.10639233398437495, 0.028157226562499943, 0.45825488281250004, -0.23771582031249996, 0.026583007812499986, -0.06950390624999997, 0.28657910156250005],
    [0.2846675037384033, 0.12330116882324227, -0.06891767539978036, -0.2548140228271485, 0.41724571228027346, 0.03964331970214849, 0.02355204925537108, -0.011700146484374958, 0.30794764862060553],
    [0.3998770689934492, 0.2820512573671342, -0.2811586872154475, -0.5323755901336671, 0.36428929623603823, 0.31374379323959356, 0.04107396717309951, 0.03943843957901006, 0.3211449588131905],
    [0.5328121807759526, 0.4361125218204187, -0.5154947130188188, -0.7596031483901293, 0.3028483069963157, 0.5405685135070534, 0.0847682224717997, 0.0718602181194127, 0.32312871477378535],
];
/// torch.optim.SGD(lr=0.1, momentum=0.9, dampening=0.1)
#[rustfmt::skip]
const SGD_DAMPENING: [[f64; 9]; 5] = [
    [0.13203125, -0.13624999999999998, 0.23265624999999995, 0.2634375, 0.4859375, -0.4671875, 0.03937499999999999, -0.12, 0.264375],
    [0.1908500732421875, -0.028149804687499946, 0.11295778808593744, 0.03939462890624992, 0.45975751953125005, -0.24870986328124994, 0.026905957031249983, -0.07185351562499998, 0.28565244140625],
    [0.27487550273513794, 0.10881064596557627, -0.05049762322616584, -0.22808574325561534, 0.4217282906188965, 0.013338059661865354, 0.022862486068725568, -0.016924454589843728, 0.30634408561706544],
    [0.3811202126604289, 0.25822401230148806, -0.24740868993528436, -0.49344254613853467, 0.3729599290443897, 0.2751035243277551, 0.03661263978266, 0.03283002618844987, 0.32001987228240253],
    [0.5039658347486932, 0.4048873172438584, -0.46538210606571406, -0.7175120763279625, 0.3161840357525211, 0.4983117364909214, 0.07349197060669013, 0.06694774976205213, 0.3236101312220992],
];
/// torch.optim.SGD(lr=0.1, momentum=0.9, nesterov=True)
#[rustfmt::skip]
const SGD_NESTEROV: [[f64; 9]; 5] = [
    [0.160859375, -0.07887499999999999, 0.17204687499999996, 0.14053125, 0.47328125, -0.34765624999999994, 0.02981249999999999, -0.09299999999999999, 0.2773125],
    [0.25232727294921875, 0.06721439453125001, -0.004356643066406318, -0.14223272460937503, 0.43169231445312495, -0.07030254882812492, 0.02771653320312499, -0.035179101562499995, 0.29782743164062503],
    [0.36736094349327086, 0.21810792789611821, -0.2132573431842805, -0.3957225927276612, 0.37863820224914546, 0.18074747436828625, 0.05128508943634032, 0.009372073388671895, 0.30716903360748293],
    [0.493939927833676, 0.35884363928525975, -0.43583073948253415, -0.5887286232742539, 0.32063524797672743, 0.37362106415068636, 0.09811480493866752, 0.03200926651134682, 0.30868772005078626],
    [0.6175162619867332, 0.4800782929201985, -0.6529239039698094, -0.7102758576226339, 0.26583146843399685, 0.49532375682917856, 0.15834707747994473, 0.02948890712579215, 0.3110837203654841],
];
/// torch.optim.SGD(lr=0.1, weight_decay=0.1)
#[rustfmt::skip]
const SGD_WEIGHT_DECAY: [[f64; 9]; 5] = [
    [0.13103125, -0.13424999999999998, 0.22965624999999995, 0.2594375, 0.4809375, -0.4611875, 0.03887499999999999, -0.1185, 0.261875],
    [0.163267373046875, -0.07670242187499997, 0.16199420898437494, 0.14523785156249996, 0.4618486328125, -0.34747269531249997, 0.03562550781249999, -0.09379390624999998, 0.26860410156250003],
    [0.19538849895324706, -0.02607697297363279, 0.09772944305725091, 0.05191920217285152, 0.44336803845214845, -0.25387950607910154, 0.03765470433349609, -0.07456882460937499, 0.2721375919799805],
    [0.22652108479844188, 0.01867368289215853, 0.03724814830774588, -0.02477372923059086, 0.4258969020807648, -0.17650775957315062, 0.043084777417972564, -0.05978396441366576, 0.2738510267819405],
    [0.2561136046188754, 0.05841154618207449, -0.019293810485919848, -0.08815649712767029, 0.4096697030803711, -0.11228663018501658, 0.05057048539901463, -0.04861010040704623, 0.27469833861309145],
];
/// torch.optim.SGD(lr=0.1, momentum=0.8, weight_decay=0.05, nesterov=True)
#[rustfmt::skip]
const SGD_ALL: [[f64; 9]; 5] = [
    [0.15675625, -0.08344999999999998, 0.17608124999999997, 0.15058749999999999, 0.4701875, -0.35553749999999995, 0.030424999999999987, -0.09464999999999998, 0.273625],
    [0.23772892617187502, 0.049298628125000035, 0.015159087109374914, -0.10564424843750003, 0.4281303203125, -0.1018174203124999, 0.028624995312499985, -0.04115030624999999, 0.28901778906250003],
    [0.3343242691191651, 0.179020530134961, -0.16457819455925307, -0.3226948316966798, 0.37887905966699215, 0.1157026816685548, 0.0491975595338867, -0.0013694846343749942, 0.29367827468505864],
    [0.4351539265636617, 0.2937416156018497, -0.34548933019803496, -0.47952488607096144, 0.3289627334489288, 0.2748477987810298, 0.08773519054529941, 0.019097635274783833, 0.29177184221326524],
    [0.5286469137628088, 0.38771625574442126, -0.512553143308478, -0.574193604115443, 0.2848711934030734, 0.3716951671152432, 0.13471528382966458, 0.019678091122928336, 0.29083805376287813],
];
/// torch.optim.Adam(lr=0.1)
#[rustfmt::skip]
const ADAM: [[f64; 9]; 5] = [
    [0.1999999968780489, -0.10000000156862746, 0.2000000014849188, 0.30000000073226546, 0.4000000071111106, -0.5000000007529412, -0.049999990588236176, -0.05000000333333321, 0.34999999304347873],
    [0.30003522230350055, -0.0012714980279499022, 0.09998252430418761, 0.2008105940957884, 0.31192930930951196, -0.40084684085419287, -0.125245285288477, 0.046664801607681966, 0.4377406967392129],
    [0.39993303421650284, 0.09472118464127748, -1.9919665690038002e-05, 0.10309663175233193, 0.25379747816139786, -0.3033172666634914, -0.14713947805630953, 0.13406732704998262, 0.49146041283299197],
    [0.4987954469035424, 0.18578573482775995, -0.09982979731418676, 0.0074057812121799405, 0.22552615583763067, -0.20821145896094145, -0.13338225841649462, 0.20019424938856858, 0.5050791231696092],
    [0.5947524880507143, 0.26921852465386437, -0.19905069372619677, -0.08575046756156413, 0.21330362497491434, -0.11626221964284099, -0.10453546743825415, 0.232369254213653, 0.4922943695090067],
];
/// torch.optim.Adam(lr=0.1, weight_decay=0.1)
#[rustfmt::skip]
const ADAM_WEIGHT_DECAY: [[f64; 9]; 5] = [
    [0.19999999677744218, -0.10000000152091257, 0.2000000014215904, 0.30000000071142735, 0.40000000524590135, -0.5000000007203962, -0.049999991011236755, -0.05000000317460308, 0.3499999915789481],
    [0.2999512587381021, -0.0013646218801451893, 0.10002048104217225, 0.2008318026257167, 0.30763038170975554, -0.40084837500242154, -0.12186169591246142, 0.04638302683916026, 0.4258071544920902],
    [0.39950042686971293, 0.09433576155573044, 0.00017431980466346697, 0.10317030531547972, 0.23588731957833428, -0.30325922015348106, -0.13774899209930597, 0.13296510707172238, 0.44863296914464],
    [0.49717807250003804, 0.184822144696996, -0.09914424846560373, 0.007572518614199539, 0.1939713620629376, -0.2078472018122395, -0.11979204794393958, 0.1985176824465809, 0.43528798439242594],
    [0.5900283292771418, 0.26725589360157365, -0.19727695520073502, -0.08541388408725516, 0.1772213155739668, -0.11519848798829353, -0.0886900311825477, 0.23151776395528045, 0.40629978821193036],
];
/// torch.optim.Adam(lr=0.1, betas=(0.9, 0.5), amsgrad=True)
#[rustfmt::skip]
const ADAM_AMSGRAD: [[f64; 9]; 5] = [
    [0.19999999687804892, -0.10000000156862746, 0.20000000148491878, 0.30000000073226546, 0.4000000071111106, -0.5000000007529412, -0.049999990588236176, -0.050000003333333196, 0.34999999304347873],
    [0.2997942579463971, 0.0027296241316084463, 0.10009777651959201, 0.1978759824855536, 0.31906657646658765, -0.3978204168175624, -0.11559777803756037, 0.04964480559303984, 0.4304351785572437],
    [0.4007021297430149, 0.099069764337263, -3.675438143625753e-05, 0.0973247404432745, 0.2660590433532249, -0.29782914913963643, -0.13810797684474319, 0.12960913177522834, 0.47655787949486134],
    [0.4994607838639539, 0.18376250369332964, -0.10140735696929479, 0.00271850528619913, 0.23466572172314512, -0.2046432487185618, -0.13053765007896087, 0.18313468501806454, 0.49230496199802476],
    [0.5907187575144827, 0.2555132411789319, -0.20134848974955194, -0.08456708432324872, 0.21727832166484842, -0.11967536565957192, -0.10937873225453872, 0.2094002726304383, 0.48792598020889333],
];
/// torch.optim.Adam(lr=0.1, betas=(0.3, 0.99))  # lerp weight 0.7 >= 0.5
#[rustfmt::skip]
const ADAM_LARGE_LERP_WEIGHT: [[f64; 9]; 5] = [
    [0.1999999968780489, -0.10000000156862741, 0.20000000148491878, 0.3000000007322654, 0.4000000071111106, -0.5000000007529412, -0.04999999058823619, -0.05000000333333321, 0.34999999304347873],
    [0.3003848153013548, -0.006834814757627317, 0.09981560198020231, 0.2049231974283077, 0.3326746092020555, -0.40508493745027185, -0.09523349124306638, 0.03652371910249458, 0.4166941669312617],
    [0.3964281874223781, 0.07495023522621372, 0.0007601295195726887, 0.1163392534207001, 0.3032742450844304, -0.3174579395941492, -0.0839927692247775, 0.09452626839693659, 0.4337797864099657],
    [0.47981572937397127, 0.1428894171653857, -0.09428925248107364, 0.03400613632771678, 0.2821275837807367, -0.23731214662553532, -0.07855821382269783, 0.11018110473307882, 0.4294517594027995],
    [0.5487189225326067, 0.1991449152928898, -0.18321729798856434, -0.04143639787207473, 0.2741324614936823, -0.16436435350625522, -0.0912571797118419, 0.08995986516205964, 0.4370053311755394],
];
/// torch.optim.Adam(lr=0.1); lr = 0.03 from the third step on
#[rustfmt::skip]
const ADAM_LR_SCHEDULE: [[f64; 9]; 5] = [
    [0.1999999968780489, -0.10000000156862746, 0.2000000014849188, 0.30000000073226546, 0.4000000071111106, -0.5000000007529412, -0.049999990588236176, -0.05000000333333321, 0.34999999304347873],
    [0.30003522230350055, -0.0012714980279499022, 0.09998252430418761, 0.2008105940957884, 0.31192930930951196, -0.40084684085419287, -0.125245285288477, 0.046664801607681966, 0.4377406967392129],
    [0.33000456587740123, 0.027526306772818306, 0.06998179111322432, 0.17149640539275146, 0.29448975996507776, -0.37158796859698245, -0.13181354311882676, 0.07288555924037216, 0.45385661156734664],
    [0.35988522744944135, 0.05571965713774595, 0.039998774204785106, 0.1424619179373095, 0.28379060314872234, -0.3426508888281285, -0.12883407881295378, 0.09649032071166938, 0.4617100876017042],
    [0.38959445935006864, 0.08331794482227489, 0.01005562025557629, 0.11365881109495479, 0.2776673194841131, -0.3139929764132731, -0.12032892733689937, 0.116997665442888, 0.46320095098710723],
];
/// torch.optim.AdamW(lr=0.1)  # weight_decay 1e-2
#[rustfmt::skip]
const ADAMW: [[f64; 9]; 5] = [
    [0.19989999687804888, -0.09980000156862745, 0.1997000014849188, 0.29960000073226545, 0.3995000071111106, -0.4994000007529411, -0.05004999058823618, -0.0498500033333332, 0.34974999304347876],
    [0.29973685796850463, -0.0009742202705267239, 0.09948386393849783, 0.20011552478554953, 0.31125593641125776, -0.3997526354848131, -0.12501842032849056, 0.046866188643635, 0.4371652728334906],
    [0.3993382483755406, 0.09501257033739727, -0.0006151635021838936, 0.1022125807284598, 0.25348403786395035, -0.30183818699090303, -0.14636585885985662, 0.1342244244657142, 0.49058149429026593],
    [0.4978058210377391, 0.1859677969944267, -0.10041873415263003, 0.006437218835998099, 0.2256601129216634, -0.20646016319322924, -0.13212803312806004, 0.2001913779749037, 0.5039390023146956],
    [0.5932748411473294, 0.2691951282265591, -0.19952971660076801, -0.08670159880190982, 0.21369035213067036, -0.1143535847825962, -0.10289662609069623, 0.23211339656793772, 0.4909201698263496],
];
/// torch.optim.AdamW(lr=0.1, betas=(0.9, 0.5), eps=1e-3, weight_decay=0.1, amsgrad=True)
#[rustfmt::skip]
const ADAMW_AMSGRAD: [[f64; 9]; 5] = [
    [0.19868877650262598, -0.09815661707126079, 0.19714827170790472, 0.29607317296259034, 0.3957060900264784, -0.49407523746825915, -0.049567599067599055, -0.04883222591362123, 0.3468091537132988],
    [0.29610852933534754, 0.005393233997851771, 0.09535472434156, 0.1910076675835671, 0.31444898796046855, -0.3869681231282114, -0.11216885335748253, 0.050948962669144254, 0.42374075425048285],
    [0.39359437217702004, 0.10139518237017736, -0.005745347401007669, 0.08883885588817476, 0.2631089007165808, -0.2834929534050313, -0.13054482656296074, 0.1300485840452486, 0.46671163034763863],
    [0.48814112690483397, 0.18475709686851982, -0.10716873162296489, -0.00617118519595998, 0.23378954731121054, -0.18818734927440084, -0.11878593977822006, 0.18200172696408493, 0.48006829970056936],
    [0.5744946961891174, 0.25441662223002776, -0.20594352938900512, -0.09280376503777042, 0.21809993009905854, -0.10231952466941024, -0.09392314732635094, 0.20641634004822182, 0.4741783577778875],
];
/// torch.optim.Adam(lr=0.1) in float32
#[rustfmt::skip]
const ADAM_F32: [[f32; 9]; 5] = [
    [0.19999999, -0.10000001, 0.20000002, 0.3, 0.40000004, -0.5, -0.049999986, -0.050000012, 0.35],
    [0.30003524, -0.0012715012, 0.09998254, 0.20081058, 0.31192932, -0.40084684, -0.12524527, 0.046664804, 0.43774068],
    [0.39993304, 0.094721176, -1.99005e-05, 0.10309662, 0.25379747, -0.30331725, -0.14713947, 0.13406733, 0.4914604],
    [0.49879548, 0.18578573, -0.099829786, 0.0074057654, 0.22552615, -0.20821142, -0.13338226, 0.20019424, 0.50507915],
    [0.59475255, 0.26921853, -0.19905066, -0.08575049, 0.21330366, -0.116262175, -0.104535475, 0.23236926, 0.49229437],
];
/// The fixed gradients: w row-major, then b, for each step.
#[rustfmt::skip]
const GRADS: [[f64; 9]; 5] = [
    [0.06626753966449943, 0.04699155524392409, 1.8365386300294015, 1.367690398536778, 1.1213586638784168, 1.859747196003376, 0.6012290027805237, 0.7378295754101417, -0.8067815436367963],
    [-0.7983475032466213, 0.7677739048493596, 0.5173555167844971, 1.9642472974584737, 0.44813898489805787, 0.5803637569736866, -1.0492146121597965, 0.12877206565947644, -0.29104147095938915],
    [0.45801695358702993, 1.6932749764073567, 1.457454937932726, 1.932214860010293, -1.4418139927522924, 0.7277603478716976, -0.10001574724121115, -2.42925190670235, -0.15213162349367035],
    [-2.6909171061771864, 1.7421050311620636, 0.528966314057375, -0.7050516511204795, 0.8267190175662144, 1.2349828412037434, 0.9760049770226039, 0.1343319820950475, -0.08164691771217654],
    [0.2085945464949805, -0.32691272326635856, -1.6720610495180976, -0.4393948394307987, -0.37321646696733984, -1.5441264247453323, -0.16284188039102038, -0.9692689983614968, -0.6541102621535176],
];
/// torch.optim.SGD(lr=0.1, momentum=0.8, dampening=0.1, weight_decay=0.05), fixed gradients
#[rustfmt::skip]
const SGD_FIXED_DAMPENING: [[f64; 9]; 5] = [
    [0.09287324603355006, -0.2036991555243924, 0.11484613699705984, 0.2612309601463222, 0.3853641336121583, -0.7829747196003376, -0.010372900278052363, -0.22303295754101415, 0.32942815436367967],
    [0.15860518854543504, -0.27484148518048895, -0.0803557575323838, -0.02774206782854116, 0.2515887932598051, -0.978063847170038, 0.03580477264513866, -0.29204516117424384, 0.41768198354633185],
    [0.1692554933836559, -0.4829133100987161, -0.3673266166609883, -0.43269498830412984, 0.27319963075595965, -1.195232293221986, 0.08158720675849737, -0.12730804925233197, 0.5000973240809254],
    [0.41919662708995287, -0.8039871129424393, -0.6428573024540613, -0.691255548636389, 0.2148541908335222, -1.4747369604523826, 0.030005563686736736, -0.007035351881721233, 0.571127381144332],
    [0.5984896400485374, -1.0278060681152046, -0.7099034987708476, -0.8554478113845608, 0.20080047706388196, -1.552732999687584, 0.0032609934279297474, 0.17644867495076982, 0.6842512771737244],
];
/// torch.optim.SGD(lr=0.1, momentum=0.9, weight_decay=0.05, nesterov=True), fixed gradients
#[rustfmt::skip]
const SGD_FIXED_NESTEROV: [[f64; 9]; 5] = [
    [0.08645916746374512, -0.20702839549634558, -0.05179233970558628, 0.1363388242780122, 0.28219185386310086, -0.9476519672406415, -0.0647085105282995, -0.28876261932792696, 0.40091349329099135],
    [0.2315511602768731, -0.3539349836352665, -0.2995724896998192, -0.350566303351218, 0.10150957234661867, -1.1971279102531294, 0.08635494740685824, -0.3696427625278337, 0.5167394996215914],
    [0.20144878756591328, -0.7363427524764493, -0.7503161932677689, -0.9751755802571307, 0.2534782086506365, -1.5005897056375375, 0.14577417613220617, 0.03292463123208844, 0.6205892668699882],
    [0.7259806448619173, -1.2537124037554763, -1.1195382541034848, -1.2217781587112724, 0.10145885873234428, -1.9339851033963456, 0.0038128616890904243, 0.1491033609866677, 0.7123048553574607],
    [0.9102535164561862, -1.4918454942318737, -1.0792803506377489, -1.4164715060323911, 0.11013407689160572, -1.9078882801624264, -0.004552154496836935, 0.4486468847541988, 0.9078073677862775],
];
/// torch.optim.Adam(lr=0.1), fixed gradients
#[rustfmt::skip]
const ADAM_FIXED: [[f64; 9]; 5] = [
    [1.5090342184165273e-08, -0.2999999787195852, 0.20000000054450257, 0.3000000007311597, 0.40000000089177534, -0.6999999994622925, -0.04999999833674025, -0.24999999864467348, 0.3499999987605071],
    [0.06861885042345695, -0.3783661980910662, 0.11532025780390542, 0.20064631586436082, 0.3101562337161475, -0.7861385318123697, -0.018729082380045628, -0.32880718945744586, 0.43828897759911706],
    [0.08294170945324136, -0.46157681940272244, 0.024519463497482782, 0.1007607669686016, 0.31457997127563814, -0.8708797831477479, 0.010629835281175892, -0.2856885625163364, 0.516652893691754],
    [0.1417200354895882, -0.5510491492015854, -0.06062975011010718, 0.034006425970357274, 0.29449407791771953, -0.9602447325875318, -0.007086932652116122, -0.2534860481760011, 0.5859938325160805],
    [0.1872764273949757, -0.6191113805442512, -0.08940291264998738, -0.01434330137402727, 0.2875528410202093, -0.9944996287264748, -0.01630022957887372, -0.2086237329897631, 0.6656053178420893],
];
/// exp_avg, exp_avg_sq after each step of ADAM_FIXED: w row-major, then b.
#[rustfmt::skip]
const ADAM_FIXED_STATE: [[[f64; 9]; 2]; 5] = [
    [
        [0.006626753966449942, 0.004699155524392408, 0.18365386300294012, 0.13676903985367778, 0.11213586638784165, 0.18597471960033757, 0.06012290027805236, 0.07378295754101416, -0.08067815436367962],
        [4.391386813186009e-06, 2.2082062642427712e-06, 0.003372874139590274, 0.0018705770262496925, 0.0012574452530551893, 0.0034586596330424225, 0.0003614763137844633, 0.0005443924823499104, 0.0006508964591529725],
    ],
    [
        [-0.07387067175485716, 0.0810066304568891, 0.2170240283810958, 0.3195168656141573, 0.14573617823886326, 0.22541362333767245, -0.050810850965732506, 0.07928186835286039, -0.10171448602325056],
        [0.0006417457313664874, 0.0005916827670256126, 0.003637157996198038, 0.005726973894796364, 0.0014570163575875958, 0.003792023063817993, 0.001461966139840312, 0.0005604303347617691, 0.0007349507005120245],
    ],
    [
        [-0.020681909220668468, 0.24223346505193583, 0.3410671193362588, 0.4807866650537709, -0.013018838860252291, 0.27564829579107497, -0.05573134059328037, -0.17157150915266056, -0.10675619977029253],
        [0.0008508835154082647, 0.0034582712299859237, 0.005757695734306328, 0.009454701186146167, 0.0035343869309263174, 0.004317866164688509, 0.0014705073233966894, 0.006461134730644015, 0.0007573597806783324],
    ],
    [
        [-0.2877054289163202, 0.3922206216629486, 0.3598570388083704, 0.36220283343634585, 0.07095494678239435, 0.37158175033234175, 0.04744229116830804, -0.14098116002788977, -0.10424527156448093],
        [0.008091067504209865, 0.006489742898356115, 0.006031743399979467, 0.009942344315707737, 0.004214316878001038, 0.005838730916591492, 0.0024216225312461872, 0.0064727186773269555, 0.000763268640069553],
    ],
    [
        [-0.23807543137519016, 0.3203072871700179, 0.15666522997572363, 0.2820430661496314, 0.026537805407420942, 0.1800109328245744, 0.026413874012375202, -0.22380994386125047, -0.1592317706233846],
        [0.0081264881215331, 0.006590125084091186, 0.008821499809895052, 0.010125469796310446, 0.004349393092338621, 0.008217218601271706, 0.0024457183867242246, 0.0074057283498343285, 0.0011903656064840274],
    ],
];
/// torch.optim.AdamW(lr=0.1, betas=(0.3, 0.5), weight_decay=0.1, amsgrad=True), fixed gradients
#[rustfmt::skip]
const ADAMW_FIXED: [[f64; 9]; 5] = [
    [-0.0009999849096578306, -0.2979999787195853, 0.1970000005445025, 0.2960000007311596, 0.39500000089177534, -0.6939999994622925, -0.05049999833674028, -0.24849999864467348, 0.34749999876050713],
    [0.09071730426300043, -0.3908712537672539, 0.14022724587619795, 0.19086244704644312, 0.32513618334824373, -0.7447234314747007, 0.02231037464772915, -0.29072084221525046, 0.40627443072200903],
    [0.06309625633212587, -0.4901343743564841, 0.04669016998063891, 0.08730024644940541, 0.39459578226789294, -0.7919939478317012, 0.05240796914286214, -0.19785165664530924, 0.43902276800731554],
    [0.15500438636679198, -0.5896000878784559, -0.009675068087952397, 0.08298005829779867, 0.36220729008714064, -0.8649125730796597, -0.022192196206236983, -0.17374903981922976, 0.45562511259831784],
    [0.17407788373061525, -0.6004892218469627, 0.05904033626478484, 0.09843871141868361, 0.37304532534469964, -0.8003136983604989, -0.030382342603577923, -0.12679963311048892, 0.5366243801492457],
];
/// exp_avg, exp_avg_sq, max_exp_avg_sq after each step of ADAMW_FIXED: w row-major, then b.
#[rustfmt::skip]
const ADAMW_FIXED_STATE: [[[f64; 9]; 3]; 5] = [
    [
        [0.0463872777651496, 0.03289408867074686, 1.2855770410205811, 0.9573832789757446, 0.7849510647148916, 1.3018230372023631, 0.4208603019463666, 0.5164807027870992, -0.5647470805457574],
        [0.0021956934065930026, 0.0011041031321213847, 1.6864370697951354, 0.9352885131248454, 0.628722626527594, 1.7293298165212097, 0.1807381568922315, 0.272196241174955, 0.32544822957648595],
        [0.0021956934065930026, 0.0011041031321213847, 1.6864370697951354, 0.9352885131248454, 0.628722626527594, 1.7293298165212097, 0.1807381568922315, 0.272196241174955, 0.32544822957648595],
    ],
    [
        [-0.5449270689430901, 0.5473099599957757, 0.7478219740553224, 1.662188091913655, 0.549182608843108, 0.7968015410422896, -0.6081921379279476, 0.2450846567977633, -0.3731531538352996],
        [0.31977721467335346, 0.2952904360498774, 0.9770469002712447, 2.3967779793488817, 0.4147755881565279, 1.033075953464911, 0.6407947296309319, 0.14438924303458175, 0.20507668369734544],
        [0.31977721467335346, 0.2952904360498774, 1.6864370697951354, 2.3967779793488817, 0.628722626527594, 1.7293298165212097, 0.6407947296309319, 0.272196241174955, 0.32544822957648595],
    ],
    [
        [0.15713374682799386, 1.3494854714838824, 1.2445650487695048, 1.8512068295813016, -0.8445150122736722, 0.7484727058228753, -0.25246866444723215, -1.626950937652316, -0.21843808259615916],
        [0.2647783722232485, 1.581235290888606, 1.5506108981878655, 3.065116122296739, 1.2468015889264177, 0.7813555386996227, 0.32539893966357486, 3.0228270346257924, 0.11411035728208266],
        [0.31977721467335346, 1.581235290888606, 1.6864370697951354, 3.065116122296739, 1.2468015889264177, 1.7293298165212097, 0.6407947296309319, 3.0228270346257924, 0.32544822957648595],
    ],
    [
        [-1.8365018502756323, 1.6243191632586091, 0.743645934471014, 0.06182589309005493, 0.3253488086142483, 1.089029800589483, 0.607462884581653, -0.39405289382916164, -0.12268426717737133],
        [3.7529066222701255, 2.3080826152443903, 0.9152081297976555, 1.7811069765222267, 0.9651329614660322, 1.1532690783836466, 0.6389923274182342, 1.5204360580196883, 0.06038828822699079],
        [3.7529066222701255, 2.3080826152443903, 1.6864370697951354, 3.065116122296739, 1.2468015889264177, 1.7293298165212097, 0.6407947296309319, 3.0228270346257924, 0.32544822957648595],
    ],
    [
        [-0.4049343725362034, 0.2584568426911318, -0.947348954321364, -0.28902861967454263, -0.1636468842928634, -0.7541795571448876, 0.06824954910078165, -0.7967041670017962, -0.4946824636606737],
        [1.898209153548786, 1.2074772719389084, 1.8554981415566087, 0.9870874007203221, 0.5522117463408078, 1.7687977469902245, 0.3327549027137588, 1.2299592246021938, 0.24412426164076717],
        [3.7529066222701255, 2.3080826152443903, 1.8554981415566087, 3.065116122296739, 1.2468015889264177, 1.7687977469902245, 0.6407947296309319, 3.0228270346257924, 0.32544822957648595],
    ],
];
