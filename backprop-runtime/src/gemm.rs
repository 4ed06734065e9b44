//! The matrix product every `@` of a model runs on: a plain loop for products too small to
//! amortise packing; `faer`'s GEMM (AVX2/AVX-512 chosen at run time, packing buffers kept
//! per thread, so no allocation after a thread's first product) for contiguous row- or
//! column-major operands, which is every buffer and transpose the generated code passes;
//! `ndarray`'s general product for any other strides.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use faer::{Accum, MatMut, MatRef, Par};

use crate::pool::MAX_PARTS;
use crate::raw::simd;
use ndarray::{s, ArrayView2, ArrayViewMut2, ShapeBuilder};

use crate::Float;

/// Products of at most this many multiply-adds take the plain loop.
const SMALL: usize = 4096;

/// Products of at least this many multiply-adds (about 10 µs on one core) are split over
/// threads, in bands of at least [`WIDE`] rows or columns of the result; smaller ones
/// lose more to handing the parts out (about 5 µs a round trip) than they gain.
const PARALLEL: usize = 1 << 19;
const WIDE: usize = 32;

/// The longest inner sum of a product [`short_gemm`] takes (from 2): a batch of a few
/// dozen rows.
const SHORT: usize = 32;

/// The shortest inner sum, and the most columns, of a product [`kernel_gemm`] takes
/// through [`row_gemm`] and [`gradient_gemm`].
const LONG: usize = 64;
const NARROW: usize = 64;

/// The number of threads large products use; 0 until set or first read.
static THREADS: AtomicUsize = AtomicUsize::new(0);

/// Sets the number of threads large matrix products use (at least 1). By default it is
/// the `BACKPROP_THREADS` environment variable, else the machine's available parallelism.
///
/// Results do not depend on it: every product splits its sums at points set by its
/// shape, never by the thread count, so the same program on the same inputs gives the
/// same bits on 1 thread or 16, on a laptop or a server of the same instruction set
/// (a machine with other vector instructions, AVX2 against AVX-512, may round
/// differently).
///
/// ```
/// backprop_runtime::set_threads(1);
/// assert_eq!(backprop_runtime::threads(), 1);
/// ```
pub fn set_threads(n: usize) {
    THREADS.store(n.max(1), Ordering::Relaxed);
}

/// The number of threads large matrix products use.
pub fn threads() -> usize {
    match THREADS.load(Ordering::Relaxed) {
        0 => {
            let n = std::env::var("BACKPROP_THREADS")
                .ok()
                .and_then(|v| v.parse::<usize>().ok())
                .filter(|&n| n > 0)
                .or_else(|| std::thread::available_parallelism().ok().map(usize::from))
                .unwrap_or(1);
            THREADS.store(n, Ordering::Relaxed);
            n
        }
        n => n,
    }
}

/// How a product's result meets its output: `out = alpha * a @ b`, or with `add`,
/// `out += alpha * a @ b` (an update such as `w -= lr * g`, fused into the product).
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scale<A> {
    /// The factor on the product.
    pub alpha: A,
    /// Whether the product is added to `out` instead of replacing it.
    pub add: bool,
}

impl<A: Float> Scale<A> {
    /// `out = a @ b`.
    pub fn replace() -> Self {
        Scale {
            alpha: A::one(),
            add: false,
        }
    }

    /// `out = scale(out, product)` for one element.
    fn apply(self, out: A, product: A) -> A {
        if self.add {
            out + self.alpha * product
        } else {
            self.alpha * product
        }
    }
}

/// `out = a @ b`; the caller has checked that the shapes fit.
pub(crate) fn gemm<A: Float>(
    a: ArrayView2<'_, A>,
    b: ArrayView2<'_, A>,
    out: ArrayViewMut2<'_, A>,
) {
    gemm_scaled(a, b, out, Scale::replace());
}

/// `out = alpha * a @ b`, or `out += alpha * a @ b`; the caller has checked that the
/// shapes fit.
pub(crate) fn gemm_scaled<A: Float>(
    a: ArrayView2<'_, A>,
    b: ArrayView2<'_, A>,
    mut out: ArrayViewMut2<'_, A>,
    scale: Scale<A>,
) {
    let (m, k, n) = (a.nrows(), a.ncols(), b.ncols());
    if m * k * n <= SMALL {
        return small(a, b, out, scale);
    }
    let threads = if m * k * n >= PARALLEL {
        threads().min(MAX_PARTS)
    } else {
        1
    };
    if A::dense_gemm(&a, &b, &mut out, scale, threads) {
        return;
    }
    // A strided operand or output: copied into this thread's scratch, laid out row by
    // row, so that the product is the same sums as for contiguous ones and allocates
    // nothing after the first.
    let done = dense(a, LHS, |a| {
        dense(b, RHS, |b| {
            if A::dense_gemm(&a, &b, &mut out, scale, threads) {
                return true;
            }
            A::with_scratch(OUT, m * n, |tmp| {
                let Ok(mut product) = ArrayViewMut2::from_shape((m, n), tmp) else {
                    return false;
                };
                let replace = Scale::replace();
                let done = A::dense_gemm(&a, &b, &mut product, replace, threads);
                out.zip_mut_with(&product, |o, &p| *o = scale.apply(*o, p));
                done
            })
        })
    });
    if !done {
        let beta = if scale.add { A::one() } else { A::zero() };
        ndarray::linalg::general_mat_mul(scale.alpha, &a, &b, beta, &mut out);
    }
}

/// No kernel of this crate's own: the element types it has none for.
pub(crate) fn no_kernel<A>(
    _: &ArrayView2<'_, A>,
    _: &ArrayView2<'_, A>,
    _: &mut ArrayViewMut2<'_, A>,
    _: Scale<A>,
    _: usize,
) -> bool {
    false
}

/// `out = alpha * a @ b` (or `+=`) through this crate's kernels, for the two long products
/// of a dense layer of at most [`NARROW`] units, with an inner sum of at least [`LONG`]:
/// the layer `x @ w` ([`row_gemm`]) and its weight gradient `x^T @ dz` ([`gradient_gemm`]);
/// and for the weight gradients of a small batch, any width, with an inner sum of 2 to
/// [`SHORT`] ([`short_gemm`]). False, having done nothing, for any other product or
/// machine.
pub(crate) fn kernel_gemm(
    a: &ArrayView2<'_, f32>,
    b: &ArrayView2<'_, f32>,
    out: &mut ArrayViewMut2<'_, f32>,
    scale: Scale<f32>,
    threads: usize,
) -> bool {
    let (m, k, n) = (a.nrows(), a.ncols(), b.ncols());
    if m < 16 || !simd::available() {
        return false;
    }
    // A sum of one step is faer's rank-one update, which is faster: W3's step on one
    // row took 8.7 µs with it and 11.6 µs with the kernel.
    if (2..=SHORT).contains(&k) {
        return short_gemm(a, b, out, scale, threads);
    }
    if k < LONG || n > NARROW {
        return false;
    }
    row_gemm(a, b, out, scale, threads) || gradient_gemm(a, b, out, scale, threads)
}

/// [`kernel_gemm`] through [`simd::rows`] for an inner sum of at most [`SHORT`] steps, such
/// as the weight gradient `dz^T @ h` of a small batch: `b` and `out` stored row by row, `a`
/// any contiguous way (each of its values is broadcast alone). `out` in bands of rows, one
/// per thread, each in panels of up to [`simd::WIDEST`] columns, written in place.
fn short_gemm(
    a: &ArrayView2<'_, f32>,
    b: &ArrayView2<'_, f32>,
    out: &mut ArrayViewMut2<'_, f32>,
    scale: Scale<f32>,
    threads: usize,
) -> bool {
    let (m, k, n) = (a.nrows(), a.ncols(), b.ncols());
    let by_rows = |v: &[usize], s: &[isize]| row_major(v, s) == Some(true);
    if !by_rows(b.shape(), b.strides()) || !by_rows(out.shape(), out.strides()) {
        return false;
    }
    let (Some((lda, ap)), Some(x), Some(w)) = (
        strides(a.strides()),
        a.as_slice_memory_order(),
        b.as_slice_memory_order(),
    ) else {
        return false;
    };
    let Some(c) = out.as_slice_memory_order_mut() else {
        return false;
    };
    let o = simd::Rows {
        a: x,
        lda,
        ap,
        b: w,
        ldb: n,
        m,
        k,
        n,
        alpha: scale.alpha,
        add: scale.add,
        tail: &[],
    };
    row_bands(o, c, threads)
}

/// The panels of up to [`simd::WIDEST`] columns of the product `o`, each with its first
/// column; `o.n` is the result's whole width.
fn panels(o: simd::Rows<'_>) -> impl Iterator<Item = (usize, simd::Rows<'_>)> {
    (0..o.n).step_by(simd::WIDEST).map(move |j0| {
        let panel = simd::Rows {
            b: o.b.get(j0..).unwrap_or_default(),
            n: simd::WIDEST.min(o.n - j0),
            ..o
        };
        (j0, panel)
    })
}

/// [`kernel_gemm`] through [`simd::rows`] when `a`, `b` and `out` are stored row by row:
/// `out` in bands of rows, one per thread, written in place.
fn row_gemm(
    a: &ArrayView2<'_, f32>,
    b: &ArrayView2<'_, f32>,
    out: &mut ArrayViewMut2<'_, f32>,
    scale: Scale<f32>,
    threads: usize,
) -> bool {
    let (m, k, n) = (a.nrows(), a.ncols(), b.ncols());
    let by_rows = |v: &[usize], s: &[isize]| row_major(v, s) == Some(true);
    if n > simd::WIDEST
        || !by_rows(a.shape(), a.strides())
        || !by_rows(b.shape(), b.strides())
        || !by_rows(out.shape(), out.strides())
    {
        return false;
    }
    let (Some(x), Some(w), Some(c)) = (
        a.as_slice_memory_order(),
        b.as_slice_memory_order(),
        out.as_slice_memory_order_mut(),
    ) else {
        return false;
    };
    let rest = n % 16;
    let o = simd::Rows {
        a: x,
        lda: k,
        ap: 1,
        b: w,
        ldb: n,
        m,
        k,
        n,
        alpha: scale.alpha,
        add: scale.add,
        tail: &[],
    };
    if n < 16 || !(1..=simd::TAIL).contains(&rest) {
        return row_bands(o, c, threads);
    }
    // The last few columns of `w`, stored column by column, for their inner products.
    f32::with_scratch(SUM, rest * k, |tail| {
        for (j, column) in tail.chunks_exact_mut(k).enumerate() {
            for (p, t) in column.iter_mut().enumerate() {
                *t = w.get(p * n + n - rest + j).copied().unwrap_or_default();
            }
        }
        row_bands(simd::Rows { tail, ..o }, c, threads)
    })
}

/// The product `o` written in place into `c`, whose rows are `o.n` apart: in bands of rows,
/// one per thread, each in panels of up to [`simd::WIDEST`] columns. False, having written
/// nothing, when a panel does not fit.
fn row_bands(o: simd::Rows<'_>, c: &mut [f32], threads: usize) -> bool {
    let (m, n) = (o.m, o.n);
    let parts = threads.clamp(1, MAX_PARTS).min(m.div_ceil(WIDE));
    let band = m.div_ceil(parts);
    let mut slots: [RowPart<'_>; MAX_PARTS] = [const { Mutex::new(None) }; MAX_PARTS];
    let mut rest = c;
    let mut count = 0;
    for (start, slot) in (0..m).step_by(band).zip(&mut slots) {
        let rows = band.min(m - start);
        if rest.len() < rows * n {
            return false;
        }
        let (mine, after) = rest.split_at_mut(rows * n);
        rest = after;
        let part = simd::Rows {
            a: o.a.get(start * o.lda..).unwrap_or_default(),
            m: rows,
            ..o
        };
        // Every panel of every band is checked before any is written, so that a refusal
        // leaves the output as it was.
        let fit = panels(part)
            .all(|(j0, panel)| simd::rows_fit(&panel, mine.get(j0..).unwrap_or_default(), n));
        if !fit {
            return false;
        }
        *slot.get_mut().unwrap_or_else(PoisonError::into_inner) = Some((part, mine));
        count += 1;
    }
    run_parts(&slots, count, parts, &|(o, c)| {
        for (j0, panel) in panels(o) {
            simd::rows(&panel, c.get_mut(j0..).unwrap_or_default(), n);
        }
    });
    true
}

/// A band of [`row_gemm`]'s product: its operands and its rows of the output, taken by the
/// thread that computes it.
type RowPart<'a> = Mutex<Option<(simd::Rows<'a>, &'a mut [f32])>>;

/// [`kernel_gemm`] through [`simd::outer`] for a weight gradient (`x^T @ dz`): `a` stored
/// column by column (a transposed batch). The rows of the result are shared out in bands,
/// each summed into its own part of this thread's scratch, then met with `out`.
fn gradient_gemm(
    a: &ArrayView2<'_, f32>,
    b: &ArrayView2<'_, f32>,
    out: &mut ArrayViewMut2<'_, f32>,
    scale: Scale<f32>,
    threads: usize,
) -> bool {
    let (m, k, n) = (a.nrows(), a.ncols(), b.ncols());
    let (Some(x), Some(d), Some(by_rows)) = (
        a.as_slice_memory_order(),
        b.as_slice_memory_order(),
        row_major(b.shape(), b.strides()),
    ) else {
        return false;
    };
    if row_major(a.shape(), a.strides()) != Some(false) {
        return false;
    }
    let (dp, dj) = if by_rows { (n, 1) } else { (1, k) };
    let parts = threads.clamp(1, MAX_PARTS).min(m.div_ceil(4 * 16));
    let band = m.div_ceil(parts).next_multiple_of(16);
    f32::with_scratch(SUM, m * n, |scratch| {
        let mut slots: [Band<'_>; MAX_PARTS] = [const { Mutex::new(None) }; MAX_PARTS];
        let mut rest = &mut *scratch;
        let mut count = 0;
        for (start, slot) in (0..m).step_by(band).zip(&mut slots) {
            let (mine, tail) = rest.split_at_mut(band.min(m - start) * n);
            rest = tail;
            *slot.get_mut().unwrap_or_else(PoisonError::into_inner) = Some((start, mine));
            count += 1;
        }
        let failed = AtomicBool::new(false);
        let part = |(start, c): (usize, &mut [f32])| {
            let rows = band.min(m - start);
            let o = simd::Outer {
                x: x.get(start..).unwrap_or_default(),
                ldx: m,
                d,
                dp,
                dj,
                rows,
                k,
                cols: n,
            };
            if !simd::outer(&o, c) {
                failed.store(true, Ordering::Relaxed);
            }
        };
        run_parts(&slots, count, parts, &part);
        if failed.load(Ordering::Relaxed) {
            return false;
        }
        for (start, c) in (0..m).step_by(band).zip(scratch.chunks(band * n)) {
            let rows = band.min(m - start);
            let Ok(sums) = ArrayView2::from_shape((rows, n).f(), c) else {
                return false;
            };
            out.slice_mut(s![start..start + rows, ..])
                .zip_mut_with(&sums, |o, &v| *o = scale.apply(*o, v));
        }
        true
    })
}

/// A band of [`gradient_gemm`]'s result: its first row and its part of the scratch, taken
/// by the thread that sums it.
type Band<'a> = Mutex<Option<(usize, &'a mut [f32])>>;

/// This thread's scratch buffers: the split sum's half, and copies of strided operands
/// and outputs.
const SUM: usize = 0;
const LHS: usize = 1;
const RHS: usize = 2;
const OUT: usize = 3;

/// `f` of `v`, or, when `v` is not contiguous, of its copy in scratch buffer `slot`: laid
/// out column by column when `v`'s columns are its shorter strides (a strided batch,
/// transposed), row by row otherwise, so that the copy takes the same path, and gives the
/// same bits, as a contiguous view of the same orientation.
fn dense<A: Float>(
    v: ArrayView2<'_, A>,
    slot: usize,
    f: impl FnOnce(ArrayView2<'_, A>) -> bool,
) -> bool {
    if mat_ref(&v).is_some() {
        return f(v);
    }
    let by_columns = v.strides()[0].unsigned_abs() < v.strides()[1].unsigned_abs();
    A::with_scratch(slot, v.len(), |buf| {
        match ArrayViewMut2::from_shape(v.raw_dim().set_f(by_columns), buf) {
            Ok(mut copy) => {
                copy.assign(&v);
                f(copy.view())
            }
            Err(_) => false,
        }
    })
}

/// Whether the product of `[m, k] @ [k, n]` sums its inner axis in two halves, added at
/// the end: decided by the shape alone, so that its bits do not depend on the threads.
fn split_sum(m: usize, k: usize, n: usize) -> bool {
    m * k * n >= PARALLEL && m.max(n) >= 2 * WIDE && k >= 8 * m.max(n)
}

/// `out = alpha * a @ b` (or `+=`) through `faer` on up to `threads` of the pool's
/// threads, when all three are contiguous with non-negative strides; false, having done
/// nothing, otherwise. A long inner sum ([`split_sum`]) is split in two at a point set by
/// the shape; any other product, into bands of rows (or of columns, when `out` is wider
/// than tall), each element of which is the same sum, in the same order, as without bands.
pub(crate) fn faer_gemm<T: Float + faer::traits::ComplexField>(
    a: &ArrayView2<'_, T>,
    b: &ArrayView2<'_, T>,
    out: &mut ArrayViewMut2<'_, T>,
    scale: Scale<T>,
    threads: usize,
) -> bool {
    let (Some(fa), Some(fb)) = (mat_ref(a), mat_ref(b)) else {
        return false;
    };
    let (m, n, k) = (a.nrows(), b.ncols(), a.ncols());
    let accum = if scale.add {
        Accum::Add
    } else {
        Accum::Replace
    };
    let product = |(x, y, dst, acc): Part<'_, T>| {
        faer::linalg::matmul::matmul(dst, acc, x, y, scale.alpha, Par::Seq);
    };
    if split_sum(m, k, n) {
        // Long and thin (`x^T @ dz` over a large batch): each half of the products is
        // summed on its own thread (both on this one when it is alone), the first into
        // this thread's scratch, added to `out` at the end. The scratch half replaces,
        // the other meets `out` as `scale` says.
        let half = (k / 2).next_multiple_of(16).min(k);
        return T::with_scratch(SUM, m * n, |scratch| {
            {
                let Some(dst) = mat_mut(out) else {
                    return false;
                };
                let mine = MatMut::from_column_major_slice_mut(&mut *scratch, m, n);
                let halves: [Mutex<Option<Part<'_, T>>>; 2] = [
                    Mutex::new(Some((
                        fa.subcols(0, half),
                        fb.subrows(0, half),
                        mine,
                        Accum::Replace,
                    ))),
                    Mutex::new(Some((
                        fa.subcols(half, k - half),
                        fb.subrows(half, k - half),
                        dst,
                        accum,
                    ))),
                ];
                run_parts(&halves, 2, threads, &product);
            }
            if let Ok(mine) =
                ndarray::ArrayView2::from_shape(ndarray::ShapeBuilder::f((m, n)), &*scratch)
            {
                out.zip_mut_with(&mine, |o, &s| *o += s);
            }
            true
        });
    }
    let Some(mut dst) = mat_mut(out) else {
        return false;
    };
    let along_rows = m >= n;
    let len = if along_rows { m } else { n };
    let parts = threads.min(len / WIDE);
    if parts <= 1 {
        product((fa, fb, dst, accum));
        return true;
    }
    // Bands of a multiple of 16 rows or columns, the width of the kernels' tiles.
    let band = len.div_ceil(parts).next_multiple_of(16);
    let slots: [Mutex<Option<Part<'_, T>>>; MAX_PARTS] = [const { Mutex::new(None) }; MAX_PARTS];
    let mut start = 0;
    let mut count = 0;
    for slot in &slots {
        if start >= len {
            break;
        }
        let size = band.min(len - start);
        let part = if along_rows {
            let (head, tail) = dst.split_at_row_mut(size);
            dst = tail;
            (fa.subrows(start, size), fb, head, accum)
        } else {
            let (head, tail) = dst.split_at_col_mut(size);
            dst = tail;
            (fa, fb.subcols(start, size), head, accum)
        };
        *slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(part);
        start += size;
        count += 1;
    }
    run_parts(&slots, count, threads, &product);
    true
}

/// One band of a split product: its operands, its part of the output, and whether the
/// product replaces that part or is added to it.
type Part<'a, T> = (MatRef<'a, T>, MatRef<'a, T>, MatMut<'a, T>, Accum);

/// Runs the first `count` parts, each taken out of its slot by one thread: on the pool,
/// or one after another on this thread when it is the only one.
fn run_parts<P: Send>(
    slots: &[Mutex<Option<P>>],
    count: usize,
    threads: usize,
    run: &(dyn Fn(P) + Sync),
) {
    let part = |i: usize| {
        let part = slots
            .get(i)
            .and_then(|s| s.lock().unwrap_or_else(PoisonError::into_inner).take());
        if let Some(part) = part {
            run(part);
        }
    };
    if threads <= 1 {
        (0..count).for_each(part);
    } else {
        crate::pool::run(count, &part);
    }
}

/// Whether a matrix of `shape` and `strides` is laid out row by row (`Some(true)`) or
/// column by column (`Some(false)`) without gaps; a matrix with one row or column is both.
fn row_major(shape: &[usize], strides: &[isize]) -> Option<bool> {
    let (r, c) = (*shape.first()?, *shape.get(1)?);
    let (sr, sc) = (*strides.first()?, *strides.get(1)?);
    let dense =
        |len: usize, stride: isize, inner: usize| len <= 1 || usize::try_from(stride) == Ok(inner);
    if dense(c, sc, 1) && dense(r, sr, c) {
        Some(true)
    } else if dense(r, sr, 1) && dense(c, sc, r) {
        Some(false)
    } else {
        None
    }
}

fn mat_ref<'a, T>(v: &'a ArrayView2<'_, T>) -> Option<MatRef<'a, T>> {
    let rows = row_major(v.shape(), v.strides())?;
    let slice = v.as_slice_memory_order()?;
    let (r, c) = v.dim();
    Some(if rows {
        MatRef::from_row_major_slice(slice, r, c)
    } else {
        MatRef::from_column_major_slice(slice, r, c)
    })
}

fn mat_mut<'a, T>(v: &'a mut ArrayViewMut2<'_, T>) -> Option<MatMut<'a, T>> {
    let rows = row_major(v.shape(), v.strides())?;
    let (r, c) = v.dim();
    let slice = v.as_slice_memory_order_mut()?;
    Some(if rows {
        MatMut::from_row_major_slice_mut(slice, r, c)
    } else {
        MatMut::from_column_major_slice_mut(slice, r, c)
    })
}

/// `out = a @ b` element by element: no packing, no allocation, nothing to set up. Over
/// the memory of contiguous views when all three are, so that each index is one
/// multiply-add per axis.
fn small<A: Float>(
    a: ArrayView2<'_, A>,
    b: ArrayView2<'_, A>,
    mut out: ArrayViewMut2<'_, A>,
    scale: Scale<A>,
) {
    let (m, k, n) = (a.nrows(), a.ncols(), b.ncols());
    let out_strides = strides(out.strides());
    if let (Some((sa, ra, ca)), Some((sb, rb, cb)), Some((ro, co))) =
        (layout(&a), layout(&b), out_strides)
    {
        if let Some(so) = out.as_slice_memory_order_mut() {
            if cb == 1 && co == 1 && n >= 16 {
                return small_rows(sa, (ra, ca), sb, rb, so, ro, (m, k, n), scale);
            }
            // A result narrower than a tile and taller than wide is tiled down its
            // columns, as `out^T = b^T @ a^T`: the same sums, in the same order.
            if n < TILE && m > n {
                let (a, b, out) = ((sb, cb, rb), (sa, ca, ra), (so, co, ro));
                return small_tiles(a, b, out, (n, k, m), scale);
            }
            return small_tiles((sa, ra, ca), (sb, rb, cb), (so, ro, co), (m, k, n), scale);
        }
    }
    for i in 0..m {
        for j in 0..n {
            let mut acc = A::zero();
            for p in 0..k {
                acc = acc + a[[i, p]] * b[[p, j]];
            }
            out[[i, j]] = scale.apply(out[[i, j]], acc);
        }
    }
}

/// [`small`] when `b` and `out` are stored row by row and rows have at least 16 elements
/// (shorter ones lose more to the chunk's set-up than they gain): each row of `out` in chunks of up
/// to [`CHUNK`] elements, summed over `p` a whole chunk at a time, so that the inner loop
/// runs along a row of `b` (which the compiler vectorises) instead of down a column. Each
/// element is the same sum, from zero in the order of `p`, as in [`small`]'s other loops.
#[allow(clippy::too_many_arguments)]
fn small_rows<A: Float>(
    sa: &[A],
    (ra, ca): (usize, usize),
    sb: &[A],
    rb: usize,
    so: &mut [A],
    ro: usize,
    (m, k, n): (usize, usize, usize),
    scale: Scale<A>,
) {
    for i in 0..m {
        for j0 in (0..n).step_by(CHUNK) {
            let len = CHUNK.min(n - j0);
            let mut acc = [A::zero(); CHUNK];
            for p in 0..k {
                let x = sa.get(i * ra + p * ca).copied().unwrap_or_else(A::zero);
                let row = sb.get(p * rb + j0..p * rb + j0 + len).unwrap_or_default();
                for (acc, &y) in acc.iter_mut().zip(row) {
                    *acc = *acc + x * y;
                }
            }
            let out = so
                .get_mut(i * ro + j0..i * ro + j0 + len)
                .unwrap_or_default();
            for (o, &acc) in out.iter_mut().zip(&acc) {
                *o = scale.apply(*o, acc);
            }
        }
    }
}

/// [`small`] over the memory of contiguous views, each given with its row and column
/// strides: each row of `out` in tiles of up to [`TILE`] elements whose sums run side by
/// side, so that one element's chain of additions does not wait on the last. Each element
/// is the same sum, from zero in the order of `p`, as in [`small`]'s other loops.
fn small_tiles<A: Float>(
    (sa, ra, ca): (&[A], usize, usize),
    (sb, rb, cb): (&[A], usize, usize),
    (so, ro, co): (&mut [A], usize, usize),
    (m, k, n): (usize, usize, usize),
    scale: Scale<A>,
) {
    for i in 0..m {
        for j0 in (0..n).step_by(TILE) {
            let len = TILE.min(n - j0);
            let mut acc = [A::zero(); TILE];
            for p in 0..k {
                let x = sa.get(i * ra + p * ca).copied().unwrap_or_else(A::zero);
                for (jj, acc) in acc.iter_mut().enumerate().take(len) {
                    let y = sb.get(p * rb + (j0 + jj) * cb).copied();
                    *acc = *acc + x * y.unwrap_or_else(A::zero);
                }
            }
            for (jj, &acc) in acc.iter().enumerate().take(len) {
                if let Some(o) = so.get_mut(i * ro + (j0 + jj) * co) {
                    *o = scale.apply(*o, acc);
                }
            }
        }
    }
}

/// The widest tile of [`small_tiles`]: enough sums side by side to hide an addition's
/// latency.
const TILE: usize = 8;

/// The widest chunk of a row [`small_rows`] sums at once.
const CHUNK: usize = 64;

/// Row and column strides, when neither is negative.
fn strides(s: &[isize]) -> Option<(usize, usize)> {
    Some((
        usize::try_from(*s.first()?).ok()?,
        usize::try_from(*s.get(1)?).ok()?,
    ))
}

/// The memory of a contiguous view, with its row and column strides.
fn layout<'a, A>(v: &'a ArrayView2<'_, A>) -> Option<(&'a [A], usize, usize)> {
    let (r, c) = strides(v.strides())?;
    Some((v.as_slice_memory_order()?, r, c))
}

#[cfg(test)]
mod tests {
    use ndarray::{Array2, ArrayView2, Axis, Slice};

    use super::*;

    fn naive(a: ArrayView2<'_, f64>, b: ArrayView2<'_, f64>) -> Array2<f64> {
        Array2::from_shape_fn((a.nrows(), b.ncols()), |(i, j)| {
            (0..a.ncols()).map(|p| a[[i, p]] * b[[p, j]]).sum()
        })
    }

    fn filled(r: usize, c: usize, seed: usize) -> Array2<f64> {
        Array2::from_shape_fn((r, c), |(i, j)| {
            ((i * 31 + j * 17 + seed) % 23) as f64 / 7.0 - 1.5
        })
    }

    /// Every path (the loop, faer sequential and threaded, the general fallback) on
    /// row-major, transposed, strided, reversed and broadcast operands, into row-major and
    /// transposed outputs, against the textbook triple loop.
    #[test]
    fn products_match_the_naive_loop_on_every_layout() {
        set_threads(2);
        let shapes = [
            (4, 3, 4),
            (1, 7, 1),
            (16, 16, 16),
            (300, 120, 40),
            (130, 800, 48),
            (40, 3000, 36),
            (40, 700, 330),
        ];
        for &(m, k, n) in &shapes {
            let a = filled(m, k, 1);
            let b = filled(k, n, 2);
            let at = a.t().to_owned();
            let bt = b.t().to_owned();
            let a_wide = filled(m, 2 * k, 3);
            let a_strided = a_wide.slice_axis(Axis(1), Slice::new(0, None, 2));
            let b_rev_src = filled(k, n, 4);
            let b_rev = b_rev_src.slice_axis(Axis(0), Slice::new(0, None, -1));
            let row = filled(1, k, 5);
            let a_broadcast = row.broadcast((m, k)).expect("row broadcasts");
            let cases: [(ArrayView2<'_, f64>, ArrayView2<'_, f64>); 5] = [
                (a.view(), b.view()),
                (at.t(), bt.t()),
                (a_strided, b.view()),
                (a.view(), b_rev),
                (a_broadcast, b.view()),
            ];
            for (i, (x, y)) in cases.into_iter().enumerate() {
                let want = naive(x, y);
                let mut out = Array2::zeros((m, n));
                gemm(x, y, out.view_mut());
                let mut out_t = Array2::zeros((n, m));
                gemm(x, y, out_t.view_mut().reversed_axes());
                // Added to what the output holds, scaled: an update `w -= lr * g`.
                let held = filled(m, n, 6);
                let mut updated = held.clone();
                gemm_scaled(
                    x,
                    y,
                    updated.view_mut(),
                    Scale {
                        alpha: -0.5,
                        add: true,
                    },
                );
                let mut updated_t = held.t().to_owned();
                gemm_scaled(
                    x,
                    y,
                    updated_t.view_mut().reversed_axes(),
                    Scale {
                        alpha: -0.5,
                        add: true,
                    },
                );
                let want_updated = &held - &(&want * 0.5);
                for (got, want) in [
                    (&out, &want),
                    (&out_t.t().to_owned(), &want),
                    (&updated, &want_updated),
                    (&updated_t.t().to_owned(), &want_updated),
                ] {
                    let err = (got - want).iter().fold(0.0f64, |e, v| e.max(v.abs()));
                    assert!(err <= 1e-12 * k as f64, "case {i} {m}x{k}x{n}: error {err}");
                }
                let x32 = x.mapv(|v| v as f32);
                let y32 = y.mapv(|v| v as f32);
                let mut out32 = Array2::<f32>::zeros((m, n));
                gemm(x32.view(), y32.view(), out32.view_mut());
                let err = out32
                    .iter()
                    .zip(&want)
                    .fold(0.0f64, |e, (g, w)| e.max((f64::from(*g) - w).abs()));
                assert!(
                    err <= 1e-5 * k as f64,
                    "f32 case {i} {m}x{k}x{n}: error {err}"
                );
            }
        }
    }

    /// Small products, through every loop of [`small`] (tiles across a row, tiles down a
    /// column, whole rows, and views that are not contiguous), give each element the bits
    /// of its sum from zero in the order of the inner index, replacing or added, scaled,
    /// to what the output holds.
    #[test]
    fn small_products_are_the_in_order_sums_bit_for_bit() {
        for &(m, k, n) in &[
            (1, 1, 1),
            (4, 3, 4),
            (7, 5, 2),
            (2, 5, 11),
            (9, 4, 1),
            (3, 4, 20),
        ] {
            let a = filled(m, k, 1).mapv(|v| v as f32 * 0.37);
            let b = filled(k, n, 2).mapv(|v| v as f32 * 1.3);
            let a_t = a.t().to_owned();
            let a_wide = ndarray::concatenate![Axis(1), a, a];
            let a_strided = a_wide.slice_axis(Axis(1), Slice::new(0, Some(k as isize), 1));
            let in_order =
                |i: usize, j: usize| (0..k).fold(0.0f32, |acc, p| acc + a[[i, p]] * b[[p, j]]);
            let held = filled(m, n, 3).mapv(|v| v as f32);
            for (case, x) in [a.view(), a_t.t(), a_strided].into_iter().enumerate() {
                let mut out = Array2::<f32>::zeros((m, n));
                gemm(x, b.view(), out.view_mut());
                let mut out_t = Array2::<f32>::zeros((n, m));
                gemm(x, b.view(), out_t.view_mut().reversed_axes());
                let mut added = held.clone();
                let scale = Scale {
                    alpha: -0.5,
                    add: true,
                };
                gemm_scaled(x, b.view(), added.view_mut(), scale);
                for i in 0..m {
                    for j in 0..n {
                        let want = in_order(i, j);
                        let at = format!("case {case} {m}x{k}x{n} [{i}, {j}]");
                        assert_eq!(out[[i, j]].to_bits(), want.to_bits(), "{at}");
                        assert_eq!(out_t[[j, i]].to_bits(), want.to_bits(), "{at}, out^T");
                        let want_added = held[[i, j]] + -0.5 * want;
                        assert_eq!(added[[i, j]].to_bits(), want_added.to_bits(), "{at}, +=");
                    }
                }
            }
        }
    }

    /// A weight gradient `x^T @ dz` in `f32` through the kernel: equal to the sum in
    /// `f64`, met with the output as `scale` says, and the same bits on 1, 2, 3 and 8
    /// threads, whatever the bands.
    #[test]
    fn weight_gradients_take_the_kernel_and_keep_their_bits_on_any_threads() {
        for &(m, k, n) in &[(784, 256, 50), (100, 3000, 7), (17, 64, 64), (784, 2000, 1)] {
            let x = filled(k, m, 7).mapv(|v| v as f32);
            let dz = filled(k, n, 8).mapv(|v| v as f32);
            let want = naive(x.t().mapv(f64::from).view(), dz.mapv(f64::from).view());
            let held = filled(m, n, 9).mapv(|v| v as f32);
            let mut bits = Vec::new();
            for threads in [1, 2, 3, 8] {
                let mut out = held.clone();
                let scale = Scale {
                    alpha: -0.25,
                    add: true,
                };
                let taken = kernel_gemm(&x.t(), &dz.view(), &mut out.view_mut(), scale, threads);
                assert_eq!(taken, simd::available(), "{m}x{k}x{n}");
                if !taken {
                    return;
                }
                for ((o, w), h) in out.iter().zip(&want).zip(&held) {
                    let w = f64::from(*h) - 0.25 * w;
                    assert!((f64::from(*o) - w).abs() <= 1e-6 * k as f64, "{m}x{k}x{n}");
                }
                bits.push(out.mapv(f32::to_bits));
            }
            assert!(bits.windows(2).all(|w| w[0] == w[1]), "{m}x{k}x{n}");
        }
        // Not a weight gradient: a stored row by row, a short sum, or a wide result.
        let a = filled(64, 64, 1).mapv(|v| v as f32);
        let b = filled(64, 65, 2).mapv(|v| v as f32);
        let mut out = Array2::<f32>::zeros((64, 64));
        let s = Scale::replace();
        assert!(!kernel_gemm(
            &a.view(),
            &b.slice(ndarray::s![.., ..64]),
            &mut out.view_mut(),
            s,
            2
        ));
        let short = filled(48, 64, 3).mapv(|v| v as f32);
        let b_short = b.slice(ndarray::s![..48, ..64]);
        assert!(!kernel_gemm(
            &short.t(),
            &b_short,
            &mut out.view_mut(),
            s,
            2
        ));
        let mut wide = Array2::<f32>::zeros((64, 65));
        assert!(!kernel_gemm(&a.t(), &b.view(), &mut wide.view_mut(), s, 2));
    }

    /// The weight gradient of a small batch, `dz^T @ h` with a sum of at most [`SHORT`]
    /// steps, through the row kernel in panels: equal to the sum in `f64`, met with the
    /// output as `scale` says, the same bits on 1, 2, 3 and 8 threads, with `dz^T` stored
    /// column by column (as a gradient has it) or row by row.
    #[test]
    fn short_sums_take_the_kernel_and_keep_their_bits_on_any_threads() {
        let shapes = [
            (512, 20, 784),
            (264, 20, 512),
            (16, 2, 65),
            (33, 32, 130),
            (100, 7, 64),
        ];
        for &(m, k, n) in &shapes {
            let dz = filled(k, m, 13).mapv(|v| v as f32);
            let dz_t = dz.t().to_owned();
            let h = filled(k, n, 14).mapv(|v| v as f32);
            let want = naive(dz.t().mapv(f64::from).view(), h.mapv(f64::from).view());
            let held = filled(m, n, 15).mapv(|v| v as f32);
            for (case, a) in [dz.t(), dz_t.view()].into_iter().enumerate() {
                let mut bits = Vec::new();
                for threads in [1, 2, 3, 8] {
                    let mut out = held.clone();
                    let scale = Scale {
                        alpha: -0.25,
                        add: true,
                    };
                    let taken = kernel_gemm(&a, &h.view(), &mut out.view_mut(), scale, threads);
                    assert_eq!(taken, simd::available(), "{m}x{k}x{n} case {case}");
                    if !taken {
                        return;
                    }
                    for ((o, w), h) in out.iter().zip(&want).zip(&held) {
                        let w = f64::from(*h) - 0.25 * w;
                        let at = format!("{m}x{k}x{n} case {case}");
                        assert!((f64::from(*o) - w).abs() <= 1e-6 * k as f64, "{at}");
                    }
                    bits.push(out.mapv(f32::to_bits));
                }
                assert!(
                    bits.windows(2).all(|w| w[0] == w[1]),
                    "{m}x{k}x{n} case {case}"
                );
            }
        }
        // A sum of one step, `h` or the output not stored row by row: left to the general
        // path, untouched.
        let one = filled(1, 64, 3).mapv(|v| v as f32);
        let row = filled(1, 100, 4).mapv(|v| v as f32);
        let mut outer = Array2::<f32>::from_elem((64, 100), 3.0);
        let s = Scale::replace();
        assert!(!kernel_gemm(
            &one.t(),
            &row.view(),
            &mut outer.view_mut(),
            s,
            2
        ));
        let dz = filled(20, 64, 1).mapv(|v| v as f32);
        let h = filled(100, 20, 2).mapv(|v| v as f32);
        let mut out = Array2::<f32>::from_elem((64, 100), 3.0);
        assert!(!kernel_gemm(&dz.t(), &h.t(), &mut out.view_mut(), s, 2));
        let h = h.t().to_owned();
        let mut out_t = Array2::<f32>::from_elem((100, 64), 3.0);
        assert!(!kernel_gemm(
            &dz.t(),
            &h.view(),
            &mut out_t.view_mut().reversed_axes(),
            s,
            2
        ));
        assert!(out.iter().chain(&out_t).chain(&outer).all(|&v| v == 3.0));
    }

    /// A layer `x @ w` in `f32` through the row kernel: equal to the sum in `f64`, met
    /// with the output as `scale` says, and the same bits on 1, 2, 3 and 8 threads.
    #[test]
    fn layers_take_the_kernel_and_keep_their_bits_on_any_threads() {
        for &(m, k, n) in &[(1000, 784, 50), (37, 64, 1), (16, 300, 64), (500, 100, 17)] {
            let x = filled(m, k, 10).mapv(|v| v as f32);
            let w = filled(k, n, 11).mapv(|v| v as f32);
            let want = naive(x.mapv(f64::from).view(), w.mapv(f64::from).view());
            let held = filled(m, n, 12).mapv(|v| v as f32);
            let mut bits = Vec::new();
            for threads in [1, 2, 3, 8] {
                for add in [false, true] {
                    let mut out = held.clone();
                    let scale = Scale { alpha: 0.75, add };
                    let taken =
                        kernel_gemm(&x.view(), &w.view(), &mut out.view_mut(), scale, threads);
                    assert_eq!(taken, simd::available(), "{m}x{k}x{n}");
                    if !taken {
                        return;
                    }
                    for ((o, w), h) in out.iter().zip(&want).zip(&held) {
                        let w = if add { f64::from(*h) } else { 0.0 } + 0.75 * w;
                        assert!((f64::from(*o) - w).abs() <= 1e-6 * k as f64, "{m}x{k}x{n}");
                    }
                    bits.push(out.mapv(f32::to_bits));
                }
            }
            assert!(bits.chunks(2).all(|w| w == &bits[..2]), "{m}x{k}x{n}");
        }
        // An output stored column by column is not taken.
        let x = filled(64, 64, 1).mapv(|v| v as f32);
        let mut out_t = Array2::<f32>::zeros((64, 64));
        let mut out = out_t.view_mut().reversed_axes();
        let taken = row_gemm(&x.view(), &x.view(), &mut out, Scale::replace(), 2);
        assert!(!taken);
    }

    #[test]
    fn layouts_are_told_apart() {
        assert_eq!(row_major(&[3, 4], &[4, 1]), Some(true));
        assert_eq!(row_major(&[3, 4], &[1, 3]), Some(false));
        assert_eq!(row_major(&[1, 4], &[99, 1]), Some(true));
        assert_eq!(row_major(&[3, 4], &[8, 1]), None);
        assert_eq!(row_major(&[3, 4], &[-4, 1]), None);
    }
}
