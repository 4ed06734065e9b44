//! Data-parallel training across MPI processes, run by `.ci/mpi` under `mpirun -n 2` and
//! `-n 3` (`cargo test --features mpi --test mpi --no-run`, then `mpirun -n 3` on the
//! binary it names).
//!
//! - After 20 SGD steps and then 20 Adam steps, every process holds the same bits, and
//!   they equal one process training on the same batches to 1e-12 in f64 and 1e-5 in f32,
//!   losses included; the shards are uneven (16 rows over 3 processes, and a last batch
//!   of 12), and each process starts from different parameters, which rank 0's replace.
//! - A shape error on one process's data, and a NaN that only one process's shard holds,
//!   stop every process with that process's error.
//! - Processes that do not run the same training are told so before any step.
//! - Steps 2 to 100 of a data-parallel run allocate nothing (Rust's allocations, on every
//!   thread; MPI's own, through C's `malloc`, are not counted).
//!
//! A failed assertion panics, and `mpirun` stops the other processes.

use std::sync::atomic::Ordering;

use backprop::mpi::collective::SystemOperation;
use backprop::mpi::traits::{Communicator, CommunicatorCollectives};
use backprop::optim::{Adam, OptimError, Optimizer, Sgd};
use backprop::params::{Parameters, Tensors};
use backprop::train::{Train, TrainError};
use backprop::Float;
use ndarray::{s, Array2};

#[path = "common/counting.rs"]
mod counting;
use counting::{Counted, ALLOCATIONS};

backprop::model! {
    struct Mlp;
    input x: [n, 6];
    target y: [n, 2];
    param w1: [6, 16], w2: [16, 2];
    tanh(x @ w1 + b1) @ w2 + b2;
    loss mse
}

/// 76 rows: four batches of 16 and one of 12 an epoch, so 4 epochs are 20 steps.
const ROWS: usize = 76;
const BATCH: usize = 16;

fn data<A: Float>() -> (Array2<A>, Array2<A>) {
    let x = Array2::from_shape_fn((ROWS, 6), |(i, j)| {
        A::cst(((i * 7 + j * 13) % 23) as f64 / 23.0 - 0.5)
    });
    let y = Array2::from_shape_fn((ROWS, 2), |(i, j)| {
        A::cst(((i * 5 + j * 3) % 11) as f64 / 11.0)
    });
    (x, y)
}

/// Every element of the model's parameters, in order, as f64.
fn values<A: Float>(model: &Mlp<A>) -> Vec<f64> {
    let mut all = Vec::new();
    model.visit(&mut |_, t| all.extend(t.iter().map(|v| v.as_f64())));
    all
}

/// The largest difference of `a` and `b` relative to the larger of 1 and `b`'s largest
/// magnitude.
fn distance(a: &[f64], b: &[f64]) -> f64 {
    let scale = b.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    a.iter()
        .zip(b)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()))
        / scale
}

/// Whether every process of `world` holds the same bits in `values`.
fn same_everywhere(world: &impl Communicator, values: &[f64]) -> bool {
    let bits: Vec<u64> = values.iter().map(|v| v.to_bits()).collect();
    let (mut low, mut high) = (vec![0u64; bits.len()], vec![0u64; bits.len()]);
    world.all_reduce_into(&bits[..], &mut low[..], SystemOperation::min());
    world.all_reduce_into(&bits[..], &mut high[..], SystemOperation::max());
    low == high
}

/// 20 SGD steps then 20 Adam steps, across `world` and in this process alone, compared.
fn matches_one_process<A: Float + backprop::mpi::datatype::Equivalence>(
    world: &impl Communicator,
    tolerance: f64,
) {
    let (x, y) = data::<A>();
    let init = |seed| Mlp::<A>::init(seed).unwrap();
    // Rank 0's parameters are every process's once the run starts.
    let mut model = init(world.rank() as u64 + 1);
    let mut alone = init(1);
    let train = Train::new(4, BATCH).shuffled(3).progress(false);
    let mut losses = Vec::new();
    let mut losses_alone = Vec::new();
    for name in ["SGD", "Adam"] {
        let make = || match name {
            "SGD" => Opt::Sgd(Sgd::new(0.2).unwrap()),
            _ => Opt::Adam(Adam::new(0.01).unwrap()),
        };
        let history = train
            .clone()
            .data_parallel(world)
            .fit(&mut model, &mut make(), x.view(), y.view())
            .unwrap();
        let history_alone = train
            .fit(&mut alone, &mut make(), x.view(), y.view())
            .unwrap();
        assert_eq!(history.losses.len(), 20, "{name}: 20 steps");
        losses.extend(history.losses);
        losses_alone.extend(history_alone.losses);
        let (got, want) = (values(&model), values(&alone));
        assert!(
            same_everywhere(world, &got),
            "{name}, {}: the processes' parameters differ",
            std::any::type_name::<A>()
        );
        let d = distance(&got, &want);
        assert!(
            d <= tolerance,
            "{name}, {}: parameters {d:e} from one process's",
            std::any::type_name::<A>()
        );
    }
    assert!(
        same_everywhere(world, &losses),
        "the processes' losses differ"
    );
    let d = distance(&losses, &losses_alone);
    assert!(d <= tolerance, "losses {d:e} from one process's");
    assert!(losses[39] < 0.5 * losses[0], "trains: {losses:?}");
    if world.rank() == 0 {
        println!(
            "{}: 20 SGD and 20 Adam steps on {} processes equal one process's to {:e}",
            std::any::type_name::<A>(),
            world.size(),
            distance(&values(&model), &values(&alone))
        );
    }
}

/// SGD or Adam, as the runs take them in turn.
enum Opt<A: Float> {
    Sgd(Sgd<A>),
    Adam(Adam<A>),
}

impl<A: Float> Optimizer<A> for Opt<A> {
    fn step<M: Parameters<A>>(
        &mut self,
        model: &mut M,
        grads: &M::Grads,
    ) -> Result<(), OptimError> {
        match self {
            Opt::Sgd(o) => o.step(model, grads),
            Opt::Adam(o) => o.step(model, grads),
        }
    }

    fn lr(&self) -> f64 {
        match self {
            Opt::Sgd(o) => o.lr(),
            Opt::Adam(o) => o.lr(),
        }
    }

    fn set_lr(&mut self, lr: f64) -> Result<(), OptimError> {
        match self {
            Opt::Sgd(o) => o.set_lr(lr),
            Opt::Adam(o) => o.set_lr(lr),
        }
    }

    fn reset(&mut self) {
        match self {
            Opt::Sgd(o) => o.reset(),
            Opt::Adam(o) => o.reset(),
        }
    }
}

/// The last process's data is wrong, and every process stops with its error.
fn one_process_fails(world: &impl Communicator) {
    let last = world.size() - 1;
    let mine = world.rank() == last;
    let train = Train::new(4, BATCH).in_order().progress(false);
    let check = |got: Result<_, TrainError>, own: &str, what: &str| {
        let err = got.expect_err(what).to_string();
        if mine {
            assert!(err.contains(own), "{what}: the failing process says: {err}");
        } else {
            assert!(
                err.starts_with(&format!("process {last} stopped the run: ")) && err.contains(own),
                "{what}: the others say: {err}"
            );
        }
    };

    // A shape error: its inputs have a column too many.
    let (x, y) = data::<f64>();
    let wide = Array2::from_shape_fn((ROWS, if mine { 7 } else { 6 }), |(i, j)| {
        x.get((i, j)).copied().unwrap_or(0.0)
    });
    let mut model = Mlp::<f64>::init(0).unwrap();
    let got = train.clone().data_parallel(world).fit(
        &mut model,
        &mut Sgd::new(0.1).unwrap(),
        wide.view(),
        y.view(),
    );
    check(got, "`x`", "a shape error on one process");

    // A NaN in row 31, which only the last process's shard of the second batch holds
    // (rows 24 to 31 of 16..32 on 2 processes, 27 to 31 on 3); the others have a finite
    // value there.
    let mut x = x;
    if mine {
        x[[31, 2]] = f64::NAN;
    }
    let before = values(&model);
    let got =
        train
            .data_parallel(world)
            .fit(&mut model, &mut Sgd::new(0.1).unwrap(), x.view(), y.view());
    check(got, "step 2 (epoch 1, batch 2)", "a NaN on one process");
    assert!(
        same_everywhere(world, &values(&model)),
        "stopped with the same parameters"
    );
    assert_ne!(values(&model), before, "the first step was taken");

    // Processes that do not agree on the run.
    let (x, y) = data::<f64>();
    let rows = if mine { ROWS - 1 } else { ROWS };
    let got = Train::new(1, BATCH)
        .progress(false)
        .data_parallel(world)
        .fit(
            &mut model,
            &mut Sgd::new(0.1).unwrap(),
            x.slice(s![..rows, ..]),
            y.slice(s![..rows, ..]),
        );
    let err = got.expect_err("rows that differ").to_string();
    assert!(
        err.starts_with(&format!(
            "the processes disagree on rows: from {} to {ROWS}",
            ROWS - 1
        )),
        "{err}"
    );
    if world.rank() == 0 {
        println!(
            "a process's shape error, NaN or other data stops all {}",
            world.size()
        );
    }
}

fn steps_allocate_nothing(world: &impl Communicator) {
    let (x, y) = data::<f32>();
    let mut model = Mlp::<f32>::init(0).unwrap();
    let mut sgd = Counted {
        sgd: Sgd::new(0.05).unwrap(),
        steps: 0,
    };
    // 5 steps an epoch, a short batch among them: 100 steps are 20 epochs.
    let history = Train::new(20, BATCH)
        .progress(false)
        .data_parallel(world)
        .fit(&mut model, &mut sgd, x.view(), y.view())
        .unwrap();
    assert_eq!(history.losses.len(), 100);
    let allocations = ALLOCATIONS.load(Ordering::SeqCst);
    assert_eq!(
        allocations,
        0,
        "allocations in steps 2..=100 on rank {}",
        world.rank()
    );
    if world.rank() == 0 {
        println!(
            "steps 2 to 100 allocate nothing on any of {} processes",
            world.size()
        );
    }
}

fn main() {
    let Some(universe) = backprop::mpi::initialize() else {
        panic!("MPI was initialised twice");
    };
    let world = universe.world();
    backprop::set_threads(1);
    matches_one_process::<f64>(&world, 1e-12);
    matches_one_process::<f32>(&world, 1e-5);
    if world.size() > 1 {
        one_process_fails(&world);
    }
    steps_allocate_nothing(&world);
}
