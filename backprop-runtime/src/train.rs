//! The training loop: epochs of shuffled mini-batches through any [`Supervised`] model and
//! any [`Optimizer`], with a progress bar, stopping with an error that names the step and
//! the parameter as soon as the loss or a gradient is NaN or infinite.
//!
//! ```
//! use backprop_runtime::optim::Sgd;
//! use backprop_runtime::params::{Field, Parameters, Supervised, Tensors};
//! use backprop_runtime::train::Train;
//! use backprop_runtime::ShapeError;
//! use ndarray::{Array, Array1, ArrayView, ArrayViewD, ArrayViewMutD, Ix1};
//!
//! // What `model!` generates for `x * a; loss mse`, written by hand: one scalar weight, a
//! // plain number, which the traits see as a 0-d tensor.
//! #[derive(Clone, Default)]
//! struct Scale { a: f64 }
//! impl Tensors<f64> for Scale {
//!     fn visit(&self, f: &mut dyn FnMut(&'static str, ArrayViewD<'_, f64>)) {
//!         f("a", self.a.tensor());
//!     }
//!     fn visit_mut(&mut self, f: &mut dyn FnMut(&'static str, ArrayViewMutD<'_, f64>)) {
//!         f("a", self.a.tensor_mut());
//!     }
//! }
//! impl Parameters<f64> for Scale {
//!     type Grads = Scale;
//!     fn visit_with_grads(
//!         &mut self,
//!         g: &Scale,
//!         f: &mut dyn FnMut(&'static str, ArrayViewMutD<'_, f64>, ArrayViewD<'_, f64>),
//!     ) {
//!         f("a", self.a.tensor_mut(), g.a.tensor());
//!     }
//! }
//! impl Supervised<f64> for Scale {
//!     type Input = Ix1;
//!     type Label = f64;
//!     type Target = Ix1;
//!     type Output = Ix1;
//!     type Workspace = Scale;
//!     fn workspace(&self) -> Scale { Scale::default() }
//!     fn grad_in<'w>(
//!         &self,
//!         ws: &'w mut Scale,
//!         x: ArrayView<'_, f64, Ix1>,
//!         y: ArrayView<'_, f64, Ix1>,
//!     ) -> Result<(f64, &'w Scale), ShapeError> {
//!         let e = &x * self.a - &y;
//!         let n = x.len() as f64;
//!         ws.a = 2.0 * (&e * &x).sum() / n;
//!         Ok((e.mapv(|v| v * v).sum() / n, ws))
//!     }
//!     fn loss(&self, x: ArrayView<'_, f64, Ix1>, y: ArrayView<'_, f64, Ix1>) -> Result<f64, ShapeError> {
//!         Ok((&x * self.a - &y).mapv(|v| v * v).mean().unwrap_or(0.0))
//!     }
//!     fn forward(&self, x: ArrayView<'_, f64, Ix1>) -> Result<Array<f64, Ix1>, ShapeError> {
//!         Ok(&x * self.a)
//!     }
//! }
//!
//! let x = Array1::linspace(-1.0, 1.0, 20);
//! let y = &x * 3.0;
//! let mut model = Scale { a: 0.0 };
//! let history = Train::new(50, 4)
//!     .shuffled(0)
//!     .progress(false)
//!     .fit(&mut model, &mut Sgd::new(0.1)?, x.view(), y.view())?;
//! assert!((model.a - 3.0).abs() < 1e-3);
//! assert!(history.epochs.last().unwrap().loss < 1e-6);
//! assert_eq!(history.losses.len(), 50 * 5);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use ndarray::{Array, ArrayView, Axis, RemoveAxis};

use crate::data::{gather, Batches};

#[cfg(feature = "mpi")]
mod parallel;
use crate::optim::{OptimError, Optimizer};
use crate::params::{Parameters, Supervised, Tensors};
use crate::{Float, ShapeError};
#[cfg(feature = "mpi")]
pub use parallel::DataParallel;

/// How to train: epochs, batch size, shuffling, and whether to show a progress bar.
///
/// The defaults: shuffled from seed 0 every epoch, the last short batch kept, and a progress
/// bar on standard error when it is a terminal.
#[derive(Debug, Clone, PartialEq)]
pub struct Train {
    epochs: usize,
    batch_size: usize,
    seed: Option<u64>,
    drop_last: bool,
    progress: bool,
}

/// One epoch's summary.
#[derive(Debug, Clone, PartialEq)]
pub struct Epoch {
    /// The epoch, from 1.
    pub epoch: usize,
    /// The mean of the epoch's batch losses, each weighted by its rows.
    pub loss: f64,
    /// Wall-clock seconds the epoch took.
    pub seconds: f64,
    /// Examples per second.
    pub throughput: f64,
}

/// What training did: every step's loss, and a summary of each epoch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    /// The loss of every step, in order, as computed before that step's update.
    pub losses: Vec<f64>,
    /// Each epoch's summary.
    pub epochs: Vec<Epoch>,
}

/// Why training stopped early.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TrainError {
    /// A tensor of the batch or of the model has a shape the model cannot take.
    #[error(transparent)]
    Shape(Box<ShapeError>),
    /// The optimizer refused the step.
    #[error(transparent)]
    Optim(Box<OptimError>),
    /// The inputs and the targets do not have one row per example each.
    #[error("the inputs {inputs:?} and the targets {targets:?} must have as many rows (axis 0), one per example")]
    Rows {
        /// The inputs' shape.
        inputs: Vec<usize>,
        /// The targets' shape.
        targets: Vec<usize>,
    },
    /// The run's history (a loss per step) would not fit in memory.
    #[error(
        "{epochs} epochs of {batches} batches: the history of their losses would not fit in memory"
    )]
    TooLong {
        /// The epochs asked for.
        epochs: usize,
        /// The batches of an epoch.
        batches: usize,
    },
    /// The processes of a data-parallel run do not run the same training.
    #[cfg(feature = "mpi")]
    #[error(
        "the processes disagree on {setting}: from {low} to {high}; every process of a data-parallel run must train the same model on the same data with the same settings"
    )]
    Mismatch {
        /// What differs.
        setting: &'static str,
        /// Its lowest value over the processes.
        low: u64,
        /// Its highest.
        high: u64,
    },
    /// A data-parallel batch has fewer rows than there are processes.
    #[cfg(feature = "mpi")]
    #[error("batches of {batch_size} rows cannot be shared by {processes} processes: each needs a row of every full batch")]
    SmallBatch {
        /// The batch size.
        batch_size: usize,
        /// The processes.
        processes: usize,
    },
    /// Another process of a data-parallel run stopped it.
    #[cfg(feature = "mpi")]
    #[error("process {rank} stopped the run: {message}")]
    Process {
        /// The rank of the process whose error stopped the run.
        rank: usize,
        /// Its error.
        message: String,
    },
    /// An epoch would have no batch.
    #[error("no batch to train on: {rows} rows in batches of {batch_size}")]
    NoBatch {
        /// The examples.
        rows: usize,
        /// The batch size.
        batch_size: usize,
    },
    /// A gradient holds a NaN or an infinity.
    #[error(
        "step {step} (epoch {epoch}, batch {batch}): the gradient of `{parameter}` is {value} at {index:?}, and the loss is {loss}; \
         training stopped before this step's update; check the batch for NaN or infinite values, and the learning rate"
    )]
    NonFiniteGradient {
        /// The step, from 1, counted over all epochs.
        step: usize,
        /// The epoch, from 1.
        epoch: usize,
        /// The batch within the epoch, from 1.
        batch: usize,
        /// The loss of the step.
        loss: f64,
        /// The first parameter, in declaration order, whose gradient is not finite.
        parameter: &'static str,
        /// The index of the first such element.
        index: Vec<usize>,
        /// That element.
        value: f64,
    },
    /// The loss is NaN or infinite though every gradient is finite.
    #[error(
        "step {step} (epoch {epoch}, batch {batch}): the loss is {loss}; \
         training stopped before this step's update; check the batch for NaN or infinite values, and the learning rate"
    )]
    NonFiniteLoss {
        /// The step, from 1, counted over all epochs.
        step: usize,
        /// The epoch, from 1.
        epoch: usize,
        /// The batch within the epoch, from 1.
        batch: usize,
        /// The loss.
        loss: f64,
    },
    /// The optimizer refused an update that would have made a parameter, or its state,
    /// NaN or infinite: the model is as it was before that step.
    #[error("step {step} (epoch {epoch}, batch {batch}): {source}")]
    NonFiniteUpdate {
        /// The step, from 1, counted over all epochs.
        step: usize,
        /// The epoch, from 1.
        epoch: usize,
        /// The batch within the epoch, from 1.
        batch: usize,
        /// The optimizer's [`OptimError::NonFinite`].
        source: Box<OptimError>,
    },
    /// A parameter became NaN or infinite in an update of an optimizer that does not
    /// refuse one (see [`Optimizer::checks_finite`]), found right after it.
    #[error(
        "step {step}: the update made `{parameter}` {value} at {index:?}; the learning rate is likely too large"
    )]
    NonFiniteParameter {
        /// The step whose update it was.
        step: usize,
        /// The parameter.
        parameter: &'static str,
        /// The index of the first non-finite element.
        index: Vec<usize>,
        /// That element.
        value: f64,
    },
}

impl From<ShapeError> for TrainError {
    fn from(e: ShapeError) -> Self {
        Self::Shape(Box::new(e))
    }
}

impl From<OptimError> for TrainError {
    fn from(e: OptimError) -> Self {
        Self::Optim(Box::new(e))
    }
}

impl Default for Train {
    fn default() -> Self {
        Self::new(1, 32)
    }
}

impl Train {
    /// `epochs` passes over the data in batches of `batch_size` rows (at least 1).
    pub fn new(epochs: usize, batch_size: usize) -> Self {
        Self {
            epochs,
            batch_size: batch_size.max(1),
            seed: Some(0),
            drop_last: false,
            progress: true,
        }
    }

    /// Shuffles the examples every epoch, from `seed`.
    #[must_use]
    pub fn shuffled(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Takes the examples in their order, every epoch.
    #[must_use]
    pub fn in_order(mut self) -> Self {
        self.seed = None;
        self
    }

    /// Leaves out each epoch's last batch when it is shorter than the others.
    #[must_use]
    pub fn drop_last(mut self, drop: bool) -> Self {
        self.drop_last = drop;
        self
    }

    /// Shows a progress bar with the loss and the throughput (on standard error, when it
    /// is a terminal); `false` shows nothing.
    #[must_use]
    pub fn progress(mut self, show: bool) -> Self {
        self.progress = show;
        self
    }

    /// Trains `model` with `optimizer` on the rows of `x` and `y`.
    ///
    /// # Errors
    ///
    /// [`TrainError`]: a shape the model cannot take, rows that do not pair up, a
    /// refused update, or a non-finite loss, gradient or parameter, naming the step and
    /// the parameter. On a non-finite loss or gradient, or an update this crate's
    /// optimizers refuse because it would make a parameter non-finite, the model is left
    /// as it was before that step.
    pub fn fit<A, M, O>(
        &self,
        model: &mut M,
        optimizer: &mut O,
        x: ArrayView<'_, A, M::Input>,
        y: ArrayView<'_, M::Label, M::Target>,
    ) -> Result<History, TrainError>
    where
        A: Float,
        M: Supervised<A>,
        M::Input: RemoveAxis,
        M::Target: RemoveAxis,
        O: Optimizer<A>,
    {
        self.fit_with(model, optimizer, x, y, |_, _| None)
    }

    /// [`Train::fit`], calling `after_epoch` at the end of every epoch with the model and
    /// the epoch's summary; a line it returns is printed above the progress bar (or on
    /// standard error when there is none), as a held-out accuracy would be.
    ///
    /// # Errors
    ///
    /// As [`Train::fit`].
    pub fn fit_with<A, M, O>(
        &self,
        model: &mut M,
        optimizer: &mut O,
        x: ArrayView<'_, A, M::Input>,
        y: ArrayView<'_, M::Label, M::Target>,
        mut after_epoch: impl FnMut(&M, &Epoch) -> Option<String>,
    ) -> Result<History, TrainError>
    where
        A: Float,
        M: Supervised<A>,
        M::Input: RemoveAxis,
        M::Target: RemoveAxis,
        O: Optimizer<A>,
    {
        self.run(&mut Alone, model, optimizer, x, y, &mut after_epoch)
    }

    /// The loop both [`Train::fit_with`] and a data-parallel run go through: `steps` says
    /// which rows of a batch this process computes and combines their loss and gradients
    /// into the step's.
    pub(crate) fn run<A, M, O, S>(
        &self,
        steps: &mut S,
        model: &mut M,
        optimizer: &mut O,
        x: ArrayView<'_, A, M::Input>,
        y: ArrayView<'_, M::Label, M::Target>,
        after_epoch: &mut dyn FnMut(&M, &Epoch) -> Option<String>,
    ) -> Result<History, TrainError>
    where
        A: Float,
        M: Supervised<A>,
        M::Input: RemoveAxis,
        M::Target: RemoveAxis,
        O: Optimizer<A>,
        S: Steps<A, M>,
    {
        let setup = self.setup(steps, model, x.view(), y.view());
        let (mut batches, mut history, mut full, mut last) = steps.ready(setup)?;
        let shows = self.progress && steps.shows();
        let bar = self.bar(shows, batches.rows().saturating_mul(self.epochs));
        let checked = !optimizer.checks_finite();
        let mut step = 0;
        let mut shown = Instant::now();
        let mut done = 0u64;
        for epoch in 1..=self.epochs {
            if !bar.is_hidden() {
                bar.set_prefix(format!("epoch {epoch}/{}", self.epochs));
            }
            let start = Instant::now();
            let (mut sum, mut seen) = (0.0, 0usize);
            for (b, idx) in batches.epoch().enumerate() {
                step += 1;
                let at = At {
                    step,
                    epoch,
                    batch: b + 1,
                };
                let (ws, xb, yb) = if idx.len() == self.batch_size {
                    &mut full
                } else {
                    &mut last
                };
                let rows = steps.rows(idx);
                let local = if rows.is_empty() {
                    Ok(None)
                } else {
                    gather(x.view(), rows, xb);
                    gather(y.view(), rows, yb);
                    model.grad_in(ws, xb.view(), yb.view()).map(Some)
                };
                let local = local.map_err(TrainError::from).and_then(|part| {
                    part.map(|(loss, grads)| finite(at, loss, grads).map(|()| (loss, grads)))
                        .transpose()
                });
                let (loss, grads) = match steps.combine(local, rows.len(), idx.len()) {
                    Ok(done) => done,
                    Err(e) => {
                        bar.abandon();
                        return Err(e);
                    }
                };
                optimizer.step(model, grads).map_err(|e| match e {
                    OptimError::NonFinite { .. } => TrainError::NonFiniteUpdate {
                        step,
                        epoch,
                        batch: b + 1,
                        source: Box::new(e),
                    },
                    e => e.into(),
                })?;
                // An optimizer that does not refuse such an update is checked after it.
                if let Some(bad) = checked.then(|| model.first_non_finite()).flatten() {
                    bar.abandon();
                    return Err(TrainError::NonFiniteParameter {
                        step,
                        parameter: bad.tensor,
                        index: bad.index,
                        value: bad.value,
                    });
                }
                history.losses.push(loss);
                sum += loss * idx.len() as f64;
                seen += idx.len();
                done += idx.len() as u64;
                if !bar.is_hidden() && shown.elapsed() > Duration::from_millis(100) {
                    shown = Instant::now();
                    bar.set_position(done);
                    bar.set_message(format!("{:.4}", sum / seen as f64));
                }
            }
            let seconds = start.elapsed().as_secs_f64();
            let summary = Epoch {
                epoch,
                loss: sum / seen.max(1) as f64,
                seconds,
                throughput: seen as f64 / seconds.max(f64::MIN_POSITIVE),
            };
            if !bar.is_hidden() {
                bar.set_position(done);
                bar.set_message(format!("{:.4}", summary.loss));
            }
            if let Some(line) = after_epoch(model, &summary) {
                if bar.is_hidden() {
                    if shows {
                        eprintln!("{line}");
                    }
                } else {
                    bar.println(line);
                }
            }
            history.epochs.push(summary);
        }
        bar.finish();
        Ok(history)
    }

    /// Everything a run needs before its first step: the batches, the history's room, and
    /// a workspace and batch buffers each for the full batches and a shorter last one,
    /// sized by a gradient of this process's rows of each, so that nothing is resized from
    /// one batch to the next. The parameters' gradient of a full batch comes back too.
    #[allow(clippy::type_complexity)]
    fn setup<A, M, S>(
        &self,
        steps: &S,
        model: &M,
        x: ArrayView<'_, A, M::Input>,
        y: ArrayView<'_, M::Label, M::Target>,
    ) -> Result<Setup<A, M>, TrainError>
    where
        A: Float,
        M: Supervised<A>,
        M::Input: RemoveAxis,
        M::Target: RemoveAxis,
        S: Steps<A, M>,
    {
        let rows = match (x.shape().first(), y.shape().first()) {
            (Some(&n), Some(&m)) if n == m => n,
            _ => {
                return Err(TrainError::Rows {
                    inputs: x.shape().to_vec(),
                    targets: y.shape().to_vec(),
                })
            }
        };
        let mut batches = Batches::new(rows, self.batch_size).drop_last(self.drop_last);
        if let Some(seed) = self.seed {
            batches = batches.shuffled(seed);
        }
        if batches.is_empty() && self.epochs > 0 {
            return Err(TrainError::NoBatch {
                rows,
                batch_size: self.batch_size,
            });
        }
        let mut history = History {
            losses: Vec::new(),
            epochs: Vec::new(),
        };
        // The whole history is allocated before the first step, or the run refused.
        let steps_run = batches.len().checked_mul(self.epochs);
        let reserved = steps_run.is_some_and(|steps_run| {
            history.losses.try_reserve_exact(steps_run).is_ok()
                && history.epochs.try_reserve_exact(self.epochs).is_ok()
        });
        if !reserved {
            return Err(TrainError::TooLong {
                epochs: self.epochs,
                batches: batches.len(),
            });
        }
        let mut grads = M::Grads::default();
        let mut sized = |batch: usize| -> Result<_, TrainError> {
            let mut ws = model.workspace();
            let mut xb: Array<A, M::Input> = x.slice_axis(Axis(0), (0..0).into()).to_owned();
            let mut yb: Array<M::Label, M::Target> =
                y.slice_axis(Axis(0), (0..0).into()).to_owned();
            let batch: Vec<usize> = (0..batch).collect();
            let part = steps.rows(&batch);
            if !part.is_empty() && self.epochs > 0 {
                gather(x.view(), part, &mut xb);
                gather(y.view(), part, &mut yb);
                // A gradient has its parameter's shape, whatever the batch.
                let (_, g) = model.grad_in(&mut ws, xb.view(), yb.view())?;
                grads.clone_from(g);
            }
            Ok((ws, xb, yb))
        };
        // No batch is full when there are fewer rows than a batch holds.
        let full = sized(if self.batch_size <= rows {
            self.batch_size
        } else {
            0
        })?;
        let last = sized(batches.rows() % self.batch_size)?;
        Ok((batches, history, full, last, grads))
    }

    fn bar(&self, shows: bool, examples: usize) -> ProgressBar {
        if !shows {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(examples as u64);
        let template = "{prefix} [{bar:30}] {human_pos}/{human_len} examples, {per_sec}, loss {msg}, {elapsed} (eta {eta})";
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar
    }
}

/// What [`Train::setup`] makes: the batches, the history, the workspace and batch buffers
/// of a full and of a short batch, and a gradient of a full batch.
type Setup<A, M> = (
    Batches,
    History,
    Buffers<A, M>,
    Buffers<A, M>,
    <M as Parameters<A>>::Grads,
);

/// What [`Steps::ready`] passes on to the loop.
type Ready<A, M> = (Batches, History, Buffers<A, M>, Buffers<A, M>);

/// A workspace and the batch's inputs and targets.
type Buffers<A, M> = (
    <M as Supervised<A>>::Workspace,
    Array<A, <M as Supervised<A>>::Input>,
    Array<<M as Supervised<A>>::Label, <M as Supervised<A>>::Target>,
);

/// Where in a run a step is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct At {
    step: usize,
    epoch: usize,
    batch: usize,
}

/// How the steps of a run are computed: which rows of each batch this process takes, and
/// how their loss and gradients become the step's.
pub(crate) trait Steps<A: Float, M: Supervised<A>> {
    /// The rows of `batch` this process computes.
    fn rows<'b>(&self, batch: &'b [usize]) -> &'b [usize];

    /// Whether this process shows progress.
    fn shows(&self) -> bool;

    /// What every process made of the run's set-up: this one's, or the first error any saw.
    fn ready(&mut self, setup: Result<Setup<A, M>, TrainError>) -> Result<Ready<A, M>, TrainError>;

    /// The step's loss and gradients from this process's: `local` is `None` when it took no
    /// rows of the batch, and an error when they did not make a finite loss and gradient;
    /// `rows` of the batch's `batch_rows` were taken.
    fn combine<'g>(
        &'g mut self,
        local: Result<Option<(A, &'g M::Grads)>, TrainError>,
        rows: usize,
        batch_rows: usize,
    ) -> Result<(f64, &'g M::Grads), TrainError>;
}

/// One process computing every step alone.
struct Alone;

impl<A: Float, M: Supervised<A>> Steps<A, M> for Alone {
    fn rows<'b>(&self, batch: &'b [usize]) -> &'b [usize] {
        batch
    }

    fn shows(&self) -> bool {
        true
    }

    fn ready(&mut self, setup: Result<Setup<A, M>, TrainError>) -> Result<Ready<A, M>, TrainError> {
        let (batches, history, full, last, _) = setup?;
        Ok((batches, history, full, last))
    }

    fn combine<'g>(
        &'g mut self,
        local: Result<Option<(A, &'g M::Grads)>, TrainError>,
        _: usize,
        _: usize,
    ) -> Result<(f64, &'g M::Grads), TrainError> {
        match local? {
            Some((loss, grads)) => Ok((loss.as_f64(), grads)),
            // A batch is never empty, and one process takes all of it.
            None => Err(TrainError::NoBatch {
                rows: 0,
                batch_size: 0,
            }),
        }
    }
}

/// The error for a non-finite loss or gradient of the step `at`, if either is.
pub(crate) fn finite<A: Float, G: Tensors<A>>(
    at: At,
    loss: A,
    grads: &G,
) -> Result<(), TrainError> {
    let At { step, epoch, batch } = at;
    let loss = loss.as_f64();
    if let Some(bad) = grads.first_non_finite() {
        return Err(TrainError::NonFiniteGradient {
            step,
            epoch,
            batch,
            loss,
            parameter: bad.tensor,
            index: bad.index,
            value: bad.value,
        });
    }
    if !loss.is_finite() {
        return Err(TrainError::NonFiniteLoss {
            step,
            epoch,
            batch,
            loss,
        });
    }
    Ok(())
}
