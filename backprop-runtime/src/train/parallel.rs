//! Data-parallel training on MPI: every process takes a shard of each batch, the shards'
//! gradients are summed across the processes in one all-reduce, and every process applies
//! the same update, so that all hold the same parameters.

use mpi::collective::{CommunicatorCollectives, Root, SystemOperation};
use mpi::datatype::Equivalence;
use mpi::topology::{Communicator, Rank};
use ndarray::{ArrayView, RemoveAxis};

use super::{Epoch, History, Ready, Setup, Steps, Train, TrainError};
use crate::optim::Optimizer;
use crate::params::{Supervised, Tensors};
use crate::Float;

/// [`Train`] across the processes of an MPI communicator, as [`Train::data_parallel`]
/// makes it.
///
/// Every process runs the same program on the same data: the same `x` and `y`, model,
/// optimizer and settings. Each batch is split into one shard per process, in rank order
/// (a batch of 32 over 3 processes: 11, 11 and 10 rows); each process computes the loss and
/// gradients of its shard, weighted by its share of the batch's rows, and one all-reduce of
/// a flat buffer, allocated before the first step, sums them into the batch's. For a loss
/// that is a mean over rows of a model whose rows do not mix (every built-in loss but
/// `sse`, and no batch statistics such as `batch_norm`'s), that sum is the gradient of the
/// whole batch, and the run is the run of one process on the same batches, up to rounding.
///
/// Before the first step the processes check that they agree on the run (rows, batch size,
/// epochs, shuffling, the parameters' sizes, the learning rate), and rank 0's parameters
/// are broadcast to all; each process's optimizer must be built alike. A process
/// whose shard fails (a shape error, a NaN or infinite loss or gradient) stops every
/// process at that step: it returns its own error, the others
/// [`TrainError::Process`] with its rank and message. Only rank 0 shows progress and
/// prints what `after_epoch` returns; every process gets the same [`History`].
///
/// ```no_run
/// use backprop_runtime::optim::Sgd;
/// use backprop_runtime::params::Supervised;
/// use backprop_runtime::train::Train;
/// # fn run<M: Supervised<f32, Input = ndarray::Ix2, Label = f32, Target = ndarray::Ix2>>(
/// #     model: &mut M, x: ndarray::ArrayView2<f32>, y: ndarray::ArrayView2<f32>,
/// # ) -> Result<(), Box<dyn std::error::Error>> {
/// let universe = mpi::initialize().ok_or("MPI is already initialised")?;
/// let world = universe.world();
/// let history = Train::new(10, 64)
///     .data_parallel(&world)
///     .fit(model, &mut Sgd::new(0.1)?, x, y)?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct DataParallel<'c, C> {
    train: Train,
    comm: &'c C,
}

impl Train {
    /// Trains across the processes of `comm`, each taking a shard of every batch: see
    /// [`DataParallel`].
    pub fn data_parallel<C: Communicator>(self, comm: &C) -> DataParallel<'_, C> {
        DataParallel { train: self, comm }
    }
}

impl<C: Communicator> DataParallel<'_, C> {
    /// Trains `model` with `optimizer` on the rows of `x` and `y`, as [`Train::fit`] does in
    /// one process.
    ///
    /// # Errors
    ///
    /// As [`Train::fit`], and [`TrainError::Mismatch`] when the processes do not run the same
    /// training, [`TrainError::Process`] when another process stopped the run.
    pub fn fit<A, M, O>(
        &self,
        model: &mut M,
        optimizer: &mut O,
        x: ArrayView<'_, A, M::Input>,
        y: ArrayView<'_, M::Label, M::Target>,
    ) -> Result<History, TrainError>
    where
        A: Float + Equivalence,
        M: Supervised<A>,
        M::Input: RemoveAxis,
        M::Target: RemoveAxis,
        O: Optimizer<A>,
    {
        self.fit_with(model, optimizer, x, y, |_, _| None)
    }

    /// [`DataParallel::fit`], calling `after_epoch` on every process at the end of every
    /// epoch; rank 0 prints the line it returns.
    ///
    /// # Errors
    ///
    /// As [`DataParallel::fit`].
    pub fn fit_with<A, M, O>(
        &self,
        model: &mut M,
        optimizer: &mut O,
        x: ArrayView<'_, A, M::Input>,
        y: ArrayView<'_, M::Label, M::Target>,
        mut after_epoch: impl FnMut(&M, &Epoch) -> Option<String>,
    ) -> Result<History, TrainError>
    where
        A: Float + Equivalence,
        M: Supervised<A>,
        M::Input: RemoveAxis,
        M::Target: RemoveAxis,
        O: Optimizer<A>,
    {
        let mut shards = Shards::<C, A, M::Grads>::new(self.comm, model.numel());
        let train = &self.train;
        let settings = [
            ("rows", x.shape().first().copied().unwrap_or(0) as u64),
            ("the batch size", train.batch_size as u64),
            ("epochs", train.epochs as u64),
            ("the seed", train.seed.map_or(0, |s| s.wrapping_add(1))),
            ("drop_last", u64::from(train.drop_last)),
            ("the parameters' elements", shards.numel as u64),
            // As bits: the same optimizer everywhere keeps the parameters the same.
            ("the learning rate (as bits)", optimizer.lr().to_bits()),
        ];
        shards.agree_on(&settings)?;
        if train.batch_size < shards.size {
            return Err(TrainError::SmallBatch {
                batch_size: train.batch_size,
                processes: shards.size,
            });
        }
        shards.broadcast(model);
        train.run(&mut shards, model, optimizer, x, y, &mut after_epoch)
    }
}

/// The sharding of every step across the processes of `comm`.
struct Shards<'c, C, A, G> {
    comm: &'c C,
    rank: usize,
    size: usize,
    numel: usize,
    /// This process's weighted gradients, then its weighted loss, then 1 if it failed.
    send: Vec<A>,
    /// Their sums over the processes.
    recv: Vec<A>,
    /// The summed gradients, as the optimizer takes them.
    grads: G,
}

impl<'c, C: Communicator, A: Float + Equivalence, G: Tensors<A> + Default> Shards<'c, C, A, G> {
    fn new(comm: &'c C, numel: usize) -> Self {
        let (rank, size) = (comm.rank(), comm.size());
        Self {
            comm,
            rank: usize::try_from(rank).unwrap_or(0),
            size: usize::try_from(size).unwrap_or(1).max(1),
            numel,
            send: Vec::new(),
            recv: Vec::new(),
            grads: G::default(),
        }
    }

    /// Every process's settings are the same, or every process returns the same error
    /// naming the first that differs.
    fn agree_on(&self, settings: &[(&'static str, u64)]) -> Result<(), TrainError> {
        let mine: Vec<u64> = settings.iter().map(|&(_, v)| v).collect();
        let (mut low, mut high) = (vec![0; mine.len()], vec![0; mine.len()]);
        self.comm
            .all_reduce_into(&mine[..], &mut low[..], SystemOperation::min());
        self.comm
            .all_reduce_into(&mine[..], &mut high[..], SystemOperation::max());
        match settings
            .iter()
            .zip(low.iter().zip(&high))
            .find(|(_, (l, h))| l != h)
        {
            Some(((setting, _), (&low, &high))) => Err(TrainError::Mismatch { setting, low, high }),
            None => Ok(()),
        }
    }

    /// Rank 0's parameters, on every process.
    fn broadcast<M: Tensors<A>>(&mut self, model: &mut M) {
        let mut flat = Vec::with_capacity(self.numel);
        model.visit(&mut |_, t| flat.extend(t.iter().copied()));
        self.comm.process_at_rank(0).broadcast_into(&mut flat[..]);
        let mut values = flat.iter();
        model.visit_mut(&mut |_, mut t| {
            t.iter_mut().zip(&mut values).for_each(|(p, &v)| *p = v);
        });
    }

    /// `local` if no process failed; otherwise this process's error if it failed, or the
    /// error of the lowest rank that did, sent by it to all.
    fn agree<T>(&self, local: Result<T, TrainError>) -> Result<T, TrainError> {
        let size = Rank::try_from(self.size).unwrap_or(Rank::MAX);
        let mine = if local.is_err() {
            Rank::try_from(self.rank).unwrap_or(Rank::MAX)
        } else {
            size
        };
        let mut first = size;
        self.comm
            .all_reduce_into(&mine, &mut first, SystemOperation::min());
        if first >= size {
            return local;
        }
        let root = self.comm.process_at_rank(first);
        let mut text = match &local {
            Err(e) if mine == first => e.to_string().into_bytes(),
            _ => Vec::new(),
        };
        let mut len = text.len() as u64;
        root.broadcast_into(&mut len);
        text.resize(usize::try_from(len).unwrap_or(0), 0);
        root.broadcast_into(&mut text[..]);
        match local {
            Err(e) => Err(e),
            Ok(_) => Err(TrainError::Process {
                rank: usize::try_from(first).unwrap_or(0),
                message: String::from_utf8_lossy(&text).into_owned(),
            }),
        }
    }
}

impl<C, A, M> Steps<A, M> for Shards<'_, C, A, M::Grads>
where
    C: Communicator,
    A: Float + Equivalence,
    M: Supervised<A>,
{
    fn rows<'b>(&self, batch: &'b [usize]) -> &'b [usize] {
        let (each, more) = (batch.len() / self.size, batch.len() % self.size);
        let start = self.rank * each + self.rank.min(more);
        let len = each + usize::from(self.rank < more);
        &batch[start..start + len]
    }

    fn shows(&self) -> bool {
        self.rank == 0
    }

    fn ready(&mut self, setup: Result<Setup<A, M>, TrainError>) -> Result<Ready<A, M>, TrainError> {
        let (batches, history, full, last, grads) = self.agree(setup)?;
        let len = self.numel + 2;
        self.send = vec![A::cst(0.0); len];
        self.recv = vec![A::cst(0.0); len];
        self.grads = grads;
        Ok((batches, history, full, last))
    }

    fn combine<'g>(
        &'g mut self,
        local: Result<Option<(A, &'g M::Grads)>, TrainError>,
        rows: usize,
        batch_rows: usize,
    ) -> Result<(f64, &'g M::Grads), TrainError> {
        let n = self.numel;
        let (send, recv) = (&mut self.send, &mut self.recv);
        match &local {
            Ok(Some((loss, grads))) => {
                let w = A::cst(rows as f64 / batch_rows.max(1) as f64);
                let mut at = send.iter_mut();
                // The tensor's iterator first, so that its end takes nothing from `at`.
                grads.visit(&mut |_, t| {
                    t.iter().zip(&mut at).for_each(|(&g, s)| *s = g * w);
                });
                send[n] = *loss * w;
                send[n + 1] = A::cst(0.0);
            }
            Ok(None) => {
                send.fill(A::cst(0.0));
            }
            Err(_) => {
                send.fill(A::cst(0.0));
                send[n + 1] = A::cst(1.0);
            }
        }
        self.comm
            .all_reduce_into(&send[..], &mut recv[..], SystemOperation::sum());
        if recv[n + 1] != A::cst(0.0) {
            return Err(match self.agree(local) {
                Err(e) => e,
                // Another process failed, so agree names it.
                Ok(_) => TrainError::Process {
                    rank: 0,
                    message: String::new(),
                },
            });
        }
        let mut sums = recv.iter();
        self.grads.visit_mut(&mut |_, mut t| {
            t.iter_mut().zip(&mut sums).for_each(|(g, &s)| *g = s);
        });
        Ok((recv[n].as_f64(), &self.grads))
    }
}
