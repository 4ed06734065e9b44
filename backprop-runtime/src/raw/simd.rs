//! Matrix-product kernels in AVX-512 for the two long products of a dense layer over a
//! batch, where the layer's width (the result's columns) is at most 64:
//!
//! - [`outer`], the weight gradient `x^T @ dz`: a result of a few hundred rows, summed over
//!   a long inner axis (the batch), with `x` stored row by row, so that a row of the result
//!   is a column of `x`;
//! - [`rows`], the layer itself, `x @ w`: a long result of at most 64 columns, each row of
//!   it one row of `x` against all of `w`; and, a panel of 64 columns at a time, the weight
//!   gradient of a small batch, `dz^T @ h`, whose inner sum is the batch's few rows (W4's
//!   `[512, 20] @ [20, 784]` went from 114 to 82 µs on two cores, 77% to 98% of the rate of
//!   a large square product).
//!
//! General GEMMs pack both operands into panels, a full pass over `x` for every product,
//! and pad narrow results to their tile width. These kernels pack nothing.
//!
//! In [`outer`], a tile of 64 rows and 5 columns of the result lives in 20 vector
//! registers, and each step of the inner sum loads 64 consecutive values of one row of `x`
//! and broadcasts 5 values of the same row of `dz`. The inner sum runs in blocks of
//! [`BLOCK`] steps, so the block of `x` that every tile of the result reads stays in the
//! core's caches while they do, and the next block is fetched into the cache while this
//! one's tiles run (which took the product of W3, `[784, 50000] @ [50000, 50]`, from 31 to
//! 26 ms on two cores).
//!
//! In [`rows`], a tile of 5 rows and all (up to 64) columns of the result lives in 20
//! vector registers for the whole inner sum: each step broadcasts one value of each of 5
//! rows of `x` and loads one row of `w` (which stays in the core's second-level cache), and
//! the next tile's rows of `x` are fetched while this one runs. Each result is written
//! once, met with the output as the caller's scale says.
//!
//! Every element of a result is one sum, in the order of the inner axis (block after
//! block): the same bits however the rows of the result are shared out between threads.
//!
//! **Invariant**: the `unsafe` functions below read and write only through pointers that
//! [`outer`] and [`rows`] derive from slices after checking that every element an unmasked
//! lane reaches lies inside them; a masked lane (past the last row or column of the
//! result) is neither read nor written, which AVX-512's masked loads and stores
//! guarantee. Prefetches only compute an address, which may lie anywhere. The kernels run
//! only where the machine has reported AVX-512 at run time.

/// Steps of the inner sum per block.
const BLOCK: usize = 64;
/// Vectors of 16 rows in a full tile.
const VECTORS: usize = 4;
/// Columns in a full tile.
const COLUMNS: usize = 5;

/// The operands of a product `c = x^T d`, each given by its memory and strides.
pub(crate) struct Outer<'a> {
    /// Element `(i, p)` of the left operand (row `i` of the result, step `p` of the sum)
    /// is `x[p * ldx + i]`.
    pub x: &'a [f32],
    /// The distance between steps of the sum in `x`, at least `rows`.
    pub ldx: usize,
    /// Element `(p, j)` of the right operand is `d[p * dp + j * dj]`.
    pub d: &'a [f32],
    /// The distance between steps of the sum in `d`.
    pub dp: usize,
    /// The distance between columns in `d`.
    pub dj: usize,
    /// Rows of the result.
    pub rows: usize,
    /// Steps of the sum.
    pub k: usize,
    /// Columns of the result.
    pub cols: usize,
}

/// Whether this machine runs the kernel.
pub(crate) fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `c[j * rows + i] = Σ_p x[p * ldx + i] · d[p * dp + j * dj]` for every row `i` and column
/// `j` of the result (`c` holds the result column by column). False, having written
/// nothing, when the machine lacks AVX-512 or a slice is too short for the sizes given.
pub(crate) fn outer(o: &Outer<'_>, c: &mut [f32]) -> bool {
    let fits = || -> Option<bool> {
        let last_x = (o.k.checked_sub(1)?)
            .checked_mul(o.ldx)?
            .checked_add(o.rows)?;
        let last_d = (o.k.checked_sub(1)?)
            .checked_mul(o.dp)?
            .checked_add((o.cols.checked_sub(1)?).checked_mul(o.dj)?)?;
        Some(
            o.rows > 0
                && o.ldx >= o.rows
                && last_x <= o.x.len()
                && last_d < o.d.len()
                && o.rows.checked_mul(o.cols)? <= c.len(),
        )
    };
    if fits() != Some(true) || !available() {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    {
        let c = &mut c[..o.rows * o.cols];
        c.fill(0.0);
        // SAFETY: AVX-512 is available (checked above), and `fits` checked that every
        // unmasked lane the kernel reaches lies inside `x`, `d` and `c`.
        unsafe { x86::outer(o, c) };
        true
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The operands of a product `c = a @ b` (met with `c` as `alpha` and `add` say): `a[i *
/// lda + p * ap]`, stored row by row (`ap` 1) or any other way, since each of its values
/// is broadcast alone, and `b[p * ldb + j]`, stored row by row.
#[derive(Clone, Copy)]
pub(crate) struct Rows<'a> {
    /// The left operand.
    pub a: &'a [f32],
    /// The distance between its rows.
    pub lda: usize,
    /// The distance between its steps of the sum: 1 for a matrix stored row by row, its
    /// rows' count for one stored column by column (a transposed batch).
    pub ap: usize,
    /// The right operand.
    pub b: &'a [f32],
    /// The distance between its rows, at least `n`.
    pub ldb: usize,
    /// Rows of the result.
    pub m: usize,
    /// Steps of the sum.
    pub k: usize,
    /// Columns of the result, at most [`WIDEST`].
    pub n: usize,
    /// The factor on the product.
    pub alpha: f32,
    /// Whether the product is added to `c` instead of replacing it.
    pub add: bool,
    /// Empty, or the last `n % 16` (1 to [`TAIL`]) columns of `b` stored column by column,
    /// `tail[c * k + p] = b[p * ldb + 16 * (n / 16) + c]`, for `a` stored row by row and
    /// `n` at least 16: those columns are then summed as inner products of a row of `a`
    /// and a column of `b`, 16 steps at a time, instead of in a vector of which they fill
    /// a few lanes.
    pub tail: &'a [f32],
}

/// The most columns [`Rows::tail`] holds: past 4, the inner products cost more than the
/// idle lanes they save.
pub(crate) const TAIL: usize = 4;

/// The most columns [`rows`] takes: four vectors.
pub(crate) const WIDEST: usize = 4 * 16;

/// `c[i * ldc + j] = alpha · Σ_p a[i * lda + p * ap] · b[p * ldb + j]`, or `c[..] + alpha · Σ`
/// with `add`, for every row `i` and column `j` of the result. False, having written
/// nothing, when the machine lacks AVX-512, the result is wider than [`WIDEST`], or a
/// slice is too short for the sizes given.
pub(crate) fn rows(o: &Rows<'_>, c: &mut [f32], ldc: usize) -> bool {
    if !rows_fit(o, c, ldc) {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: AVX-512 is available and every unmasked lane the kernel reaches lies
        // inside `a`, `b` and `c`, as `rows_fit` checked.
        unsafe { x86::rows(o, c, ldc) };
        true
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether [`rows`] would take these operands and output: the machine has AVX-512, the
/// result is at most [`WIDEST`] wide, and every slice is long enough for the sizes given.
pub(crate) fn rows_fit(o: &Rows<'_>, c: &[f32], ldc: usize) -> bool {
    let fits = || -> Option<bool> {
        let last = |rows: usize, ld: usize, cols: usize| {
            rows.checked_sub(1)?.checked_mul(ld)?.checked_add(cols)
        };
        Some(
            o.n > 0
                && o.k > 0
                && o.n <= WIDEST
                && (o.tail.is_empty()
                    || (o.ap == 1
                        && o.n >= 16
                        && (1..=TAIL).contains(&(o.n % 16))
                        && (o.n % 16).checked_mul(o.k)? <= o.tail.len()))
                && o.ldb >= o.n
                && ldc >= o.n
                && last(o.m, o.lda, 0)?.checked_add((o.k - 1).checked_mul(o.ap)?)? < o.a.len()
                && last(o.k, o.ldb, o.n)? <= o.b.len()
                && last(o.m, ldc, o.n)? <= c.len(),
        )
    };
    fits() == Some(true) && available()
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::{
        __m512, _mm512_add_ps, _mm512_fmadd_ps, _mm512_mask_storeu_ps, _mm512_maskz_loadu_ps,
        _mm512_reduce_add_ps, _mm512_set1_ps, _mm512_setzero_ps, _mm_prefetch, _MM_HINT_T1,
    };

    use std::arch::x86_64::{_mm512_mul_ps, _MM_HINT_T0};

    use super::{Outer, Rows, BLOCK, COLUMNS, VECTORS};

    /// Rows of the result in one tile of [`rows`].
    const TILE_ROWS: usize = 5;

    /// The pointers and strides of one tile of [`rows`].
    #[derive(Clone, Copy)]
    struct RowTile {
        a: *const f32,
        lda: usize,
        ap: usize,
        b: *const f32,
        ldb: usize,
        k: usize,
        c: *mut f32,
        ldc: usize,
        /// The lanes of the tile's last vector inside the result.
        last: u16,
        /// The next tile's rows of `a`, fetched into the cache while this one runs, or
        /// null.
        ahead: *const f32,
        alpha: f32,
        add: bool,
    }

    /// The whole product, tile after tile of rows.
    ///
    /// # Safety
    ///
    /// AVX-512F is available; `o`, `c` and `ldc` are as [`super::rows`] checked them.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn rows(o: &Rows<'_>, c: &mut [f32], ldc: usize) {
        // With a tail, whole vectors of columns, then the tail's inner products.
        let (vectors, tail) = if o.tail.is_empty() {
            (o.n.div_ceil(16), 0)
        } else {
            (o.n / 16, o.n % 16)
        };
        let edge = o.n - 16 * (vectors - 1);
        let last = if edge >= 16 {
            u16::MAX
        } else {
            (1u16 << edge) - 1
        };
        let mut i = 0;
        while i < o.m {
            let rows = TILE_ROWS.min(o.m - i);
            // SAFETY: row `i` is inside the result, so each offset is inside its slice;
            // the tile's lanes past those stay inside as `super::rows` checked, or masked.
            let t = unsafe {
                RowTile {
                    a: o.a.as_ptr().add(i * o.lda),
                    lda: o.lda,
                    ap: o.ap,
                    b: o.b.as_ptr(),
                    ldb: o.ldb,
                    k: o.k,
                    c: c.as_mut_ptr().add(i * ldc),
                    ldc,
                    last,
                    ahead: if i + rows < o.m {
                        o.a.as_ptr().wrapping_add((i + rows) * o.lda)
                    } else {
                        std::ptr::null()
                    },
                    alpha: o.alpha,
                    add: o.add,
                }
            };
            // SAFETY: as for `row_tile`, established above.
            unsafe {
                match rows {
                    1 => widths::<1>(vectors, t),
                    2 => widths::<2>(vectors, t),
                    3 => widths::<3>(vectors, t),
                    4 => widths::<4>(vectors, t),
                    _ => widths::<TILE_ROWS>(vectors, t),
                }
            }
            if tail > 0 {
                // SAFETY: the tail's columns follow the vectors' inside each row of the
                // result; `super::rows` checked `tail` and the rows of `a`.
                let d = unsafe {
                    DotTile {
                        a: t.a,
                        lda: o.lda,
                        b: o.tail.as_ptr(),
                        k: o.k,
                        c: t.c.add(16 * vectors),
                        ldc,
                        alpha: o.alpha,
                        add: o.add,
                    }
                };
                // SAFETY: as for `dot_tile`, established above.
                unsafe {
                    match rows {
                        1 => dots::<1>(tail, d),
                        2 => dots::<2>(tail, d),
                        3 => dots::<3>(tail, d),
                        4 => dots::<4>(tail, d),
                        _ => dots::<TILE_ROWS>(tail, d),
                    }
                }
            }
            i += rows;
        }
    }

    /// The pointers and strides of one tile of a tail's inner products.
    #[derive(Clone, Copy)]
    struct DotTile {
        a: *const f32,
        lda: usize,
        /// The tail's columns, each `k` long.
        b: *const f32,
        k: usize,
        c: *mut f32,
        ldc: usize,
        alpha: f32,
        add: bool,
    }

    /// [`dot_tile`] with `cols` (1 to [`super::TAIL`]) columns.
    ///
    /// # Safety
    ///
    /// As for [`dot_tile`].
    #[target_feature(enable = "avx512f")]
    unsafe fn dots<const R: usize>(cols: usize, t: DotTile) {
        // SAFETY: passed on.
        unsafe {
            match cols {
                1 => dot_tile::<R, 1>(t),
                2 => dot_tile::<R, 2>(t),
                3 => dot_tile::<R, 3>(t),
                _ => dot_tile::<R, 4>(t),
            }
        }
    }

    /// `c[r * ldc + j] = alpha · Σ_{p < k} a[r * lda + p] · b[j * k + p]` (or that added to
    /// `c`) for `R` rows and `C` columns: each sum in 16 lanes of 16 steps apart, added
    /// across lanes at the end, in an order set by `k` alone.
    ///
    /// # Safety
    ///
    /// AVX-512F is available, and every index below `k` of those rows and columns lies
    /// inside the allocation its pointer points into.
    #[target_feature(enable = "avx512f")]
    unsafe fn dot_tile<const R: usize, const C: usize>(t: DotTile) {
        let mut acc = [[_mm512_setzero_ps(); C]; R];
        let mut p = 0;
        while p < t.k {
            let mask = if t.k - p >= 16 {
                u16::MAX
            } else {
                (1u16 << (t.k - p)) - 1
            };
            let mut bv = [_mm512_setzero_ps(); C];
            for (j, lane) in bv.iter_mut().enumerate() {
                // SAFETY: the caller's bounds; lanes past `k` are masked.
                *lane = unsafe { _mm512_maskz_loadu_ps(mask, t.b.add(j * t.k + p)) };
            }
            for (r, row) in acc.iter_mut().enumerate() {
                // SAFETY: the caller's bounds; lanes past `k` are masked.
                let av = unsafe { _mm512_maskz_loadu_ps(mask, t.a.add(r * t.lda + p)) };
                for (sum, b) in row.iter_mut().zip(&bv) {
                    *sum = _mm512_fmadd_ps(av, *b, *sum);
                }
            }
            p += 16;
        }
        for (r, row) in acc.iter().enumerate() {
            for (j, sum) in row.iter().enumerate() {
                // The same two roundings as `Scale::apply`: the product scaled, then added.
                let scaled = t.alpha * _mm512_reduce_add_ps(*sum);
                // SAFETY: the caller's bounds.
                unsafe {
                    let q = t.c.add(r * t.ldc + j);
                    *q = if t.add { *q + scaled } else { scaled };
                }
            }
        }
    }

    /// [`row_tile`] with `vectors` (1 to 4) vectors of columns.
    ///
    /// # Safety
    ///
    /// As for [`row_tile`].
    #[target_feature(enable = "avx512f")]
    unsafe fn widths<const R: usize>(vectors: usize, t: RowTile) {
        // SAFETY: passed on.
        unsafe {
            match vectors {
                1 => row_tile::<R, 1>(t),
                2 => row_tile::<R, 2>(t),
                3 => row_tile::<R, 3>(t),
                _ => row_tile::<R, 4>(t),
            }
        }
    }

    /// `c[r * ldc + 16 v + l] = alpha · Σ_{p < k} a[r * lda + p * ap] · b[p * ldb + 16 v + l]`
    /// (or that added to `c`) for `R` rows and `V` vectors of columns, the last one's lanes
    /// masked by `last`.
    ///
    /// # Safety
    ///
    /// AVX-512F is available, and every unmasked lane of those indices lies inside the
    /// allocation its pointer points into.
    #[target_feature(enable = "avx512f")]
    unsafe fn row_tile<const R: usize, const V: usize>(t: RowTile) {
        let mask = |v: usize| if v + 1 == V { t.last } else { u16::MAX };
        let mut acc = [[_mm512_setzero_ps(); V]; R];
        for p in 0..t.k {
            if p % 16 == 0 && !t.ahead.is_null() {
                for r in 0..R {
                    let line = t.ahead.wrapping_add(r * t.lda + p * t.ap);
                    _mm_prefetch::<_MM_HINT_T0>(line.cast::<i8>());
                }
            }
            let mut bv: [__m512; V] = [_mm512_setzero_ps(); V];
            for (v, lane) in bv.iter_mut().enumerate() {
                // SAFETY: the caller's bounds.
                *lane = unsafe { _mm512_maskz_loadu_ps(mask(v), t.b.add(p * t.ldb + 16 * v)) };
            }
            for (r, row) in acc.iter_mut().enumerate() {
                // SAFETY: the caller's bounds.
                let ar = _mm512_set1_ps(unsafe { *t.a.add(r * t.lda + p * t.ap) });
                for (sum, b) in row.iter_mut().zip(&bv) {
                    *sum = _mm512_fmadd_ps(ar, *b, *sum);
                }
            }
        }
        let alpha = _mm512_set1_ps(t.alpha);
        for (r, row) in acc.iter().enumerate() {
            for (v, sum) in row.iter().enumerate() {
                // SAFETY: the caller's bounds.
                unsafe {
                    let q = t.c.add(r * t.ldc + 16 * v);
                    // The same two roundings as `Scale::apply`: the product scaled, then
                    // added.
                    let scaled = _mm512_mul_ps(alpha, *sum);
                    let value = if t.add {
                        _mm512_add_ps(_mm512_maskz_loadu_ps(mask(v), q), scaled)
                    } else {
                        scaled
                    };
                    _mm512_mask_storeu_ps(q, mask(v), value);
                }
            }
        }
    }

    /// The pointers and strides of one tile.
    #[derive(Clone, Copy)]
    struct Tile {
        x: *const f32,
        ldx: usize,
        d: *const f32,
        dp: usize,
        dj: usize,
        steps: usize,
        c: *mut f32,
        ldc: usize,
        /// The lanes of the tile's last vector inside the result.
        last: u16,
        /// The same rows of `x` in the next block, fetched into the cache while this
        /// block's tiles run (by the first tile of a row of tiles), or null.
        ahead: *const f32,
    }

    /// The whole product, block after block of the sum, tile after tile of the result.
    ///
    /// # Safety
    ///
    /// AVX-512F is available; `o` and `c` are as [`super::outer`] checked them, and `c` is
    /// zero.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn outer(o: &Outer<'_>, c: &mut [f32]) {
        let mut p0 = 0;
        while p0 < o.k {
            let steps = BLOCK.min(o.k - p0);
            let next = BLOCK.min(o.k - p0 - steps) == steps;
            let mut i = 0;
            while i < o.rows {
                let vectors = (o.rows - i).div_ceil(16).min(VECTORS);
                let tail = (o.rows - i - 16 * (vectors - 1)).min(16);
                let last = if tail == 16 {
                    u16::MAX
                } else {
                    (1u16 << tail) - 1
                };
                let mut j = 0;
                while j < o.cols {
                    let cols = (o.cols - j).min(COLUMNS);
                    // SAFETY: row `i` and column `j` are inside the result and step `p0`
                    // inside the sum, so each offset is inside its slice; the tile's
                    // lanes past those stay inside as `super::outer` checked, or masked.
                    let t = unsafe {
                        Tile {
                            x: o.x.as_ptr().add(p0 * o.ldx + i),
                            ldx: o.ldx,
                            d: o.d.as_ptr().add(p0 * o.dp + j * o.dj),
                            dp: o.dp,
                            dj: o.dj,
                            steps,
                            c: c.as_mut_ptr().add(j * o.rows + i),
                            ldc: o.rows,
                            last,
                            // A prefetch reads nothing and cannot fault: the address is
                            // only computed, so it need not be inside `x`.
                            ahead: if next && j == 0 {
                                o.x.as_ptr().wrapping_add((p0 + steps) * o.ldx + i)
                            } else {
                                std::ptr::null()
                            },
                        }
                    };
                    // SAFETY: as for `tile`, established above.
                    unsafe {
                        match vectors {
                            1 => columns::<1>(cols, t),
                            2 => columns::<2>(cols, t),
                            3 => columns::<3>(cols, t),
                            _ => columns::<4>(cols, t),
                        }
                    }
                    j += cols;
                }
                i += 16 * vectors;
            }
            p0 += steps;
        }
    }

    /// [`tile`] with `cols` (1 to 5) columns.
    ///
    /// # Safety
    ///
    /// As for [`tile`].
    #[target_feature(enable = "avx512f")]
    unsafe fn columns<const V: usize>(cols: usize, t: Tile) {
        // SAFETY: passed on.
        unsafe {
            match cols {
                1 => tile::<V, 1>(t),
                2 => tile::<V, 2>(t),
                3 => tile::<V, 3>(t),
                4 => tile::<V, 4>(t),
                _ => tile::<V, COLUMNS>(t),
            }
        }
    }

    /// `c[j * ldc + 16 v + l] += Σ_{p < steps} x[p * ldx + 16 v + l] · d[p * dp + j * dj]`
    /// for `V` vectors of 16 rows (the last one's lanes masked by `last`) and `J` columns.
    ///
    /// # Safety
    ///
    /// AVX-512F is available, and every unmasked lane of those indices lies inside the
    /// allocation its pointer points into.
    #[target_feature(enable = "avx512f")]
    unsafe fn tile<const V: usize, const J: usize>(t: Tile) {
        let mask = |v: usize| if v + 1 == V { t.last } else { u16::MAX };
        let mut acc = [[_mm512_setzero_ps(); J]; V];
        for p in 0..t.steps {
            if !t.ahead.is_null() {
                for v in 0..V {
                    let line = t.ahead.wrapping_add(p * t.ldx + 16 * v);
                    _mm_prefetch::<_MM_HINT_T1>(line.cast::<i8>());
                }
            }
            let mut xv: [__m512; V] = [_mm512_setzero_ps(); V];
            for (v, lane) in xv.iter_mut().enumerate() {
                // SAFETY: the caller's bounds.
                *lane = unsafe { _mm512_maskz_loadu_ps(mask(v), t.x.add(p * t.ldx + 16 * v)) };
            }
            for j in 0..J {
                // SAFETY: the caller's bounds.
                let dj = _mm512_set1_ps(unsafe { *t.d.add(p * t.dp + j * t.dj) });
                for (row, x) in acc.iter_mut().zip(&xv) {
                    row[j] = _mm512_fmadd_ps(*x, dj, row[j]);
                }
            }
        }
        for (v, row) in acc.iter().enumerate() {
            for (j, sum) in row.iter().enumerate() {
                // SAFETY: the caller's bounds.
                unsafe {
                    let q = t.c.add(j * t.ldc + 16 * v);
                    let held = _mm512_maskz_loadu_ps(mask(v), q);
                    _mm512_mask_storeu_ps(q, mask(v), _mm512_add_ps(held, *sum));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(i: usize, seed: usize) -> f32 {
        ((i * 7919 + seed * 104_729) % 1999) as f32 / 999.5 - 1.0
    }

    /// The kernel against the sum written out, in f64, over shapes around every tile and
    /// block edge, with gaps between the steps of `x` and `d` stored either way round.
    #[test]
    fn products_match_the_naive_sum_on_odd_shapes_and_strides() {
        if !available() {
            return;
        }
        let mut cases = 0;
        for rows in [1, 15, 16, 17, 63, 64, 65, 100, 129, 784] {
            for k in [1, 2, 63, 64, 65, 200] {
                for cols in [1, 4, 5, 6, 11, 50, 64] {
                    for (gap, by_columns) in [(0, false), (3, false), (0, true)] {
                        let ldx = rows + gap;
                        let x: Vec<f32> = (0..k * ldx).map(|i| value(i, 1)).collect();
                        let d: Vec<f32> = (0..k * cols).map(|i| value(i, 2)).collect();
                        let (dp, dj) = if by_columns { (1, k) } else { (cols, 1) };
                        let o = Outer {
                            x: &x,
                            ldx,
                            d: &d,
                            dp,
                            dj,
                            rows,
                            k,
                            cols,
                        };
                        let mut c = vec![f32::NAN; rows * cols + 3];
                        assert!(outer(&o, &mut c));
                        for i in 0..rows {
                            for j in 0..cols {
                                let want: f64 = (0..k)
                                    .map(|p| {
                                        f64::from(x[p * ldx + i]) * f64::from(d[p * dp + j * dj])
                                    })
                                    .sum();
                                let got = f64::from(c[j * rows + i]);
                                assert!(
                                    (got - want).abs() <= 1e-6 * k as f64,
                                    "{rows}x{k}x{cols} gap {gap}: ({i}, {j}) {got} against {want}"
                                );
                            }
                        }
                        assert!(c[rows * cols..].iter().all(|v| v.is_nan()), "wrote past");
                        cases += 1;
                    }
                }
            }
        }
        assert_eq!(cases, 10 * 6 * 7 * 3);
    }

    /// The row kernel against the sum written out, in f64, over shapes around every tile
    /// edge, with gaps between rows, replacing and added to the output.
    #[test]
    fn row_products_match_the_naive_sum_on_odd_shapes_and_strides() {
        if !available() {
            return;
        }
        let mut cases = 0;
        for m in [1, 4, 5, 6, 11, 100] {
            for k in [1, 15, 16, 17, 200] {
                for n in [1, 15, 16, 17, 33, 50, 64] {
                    // Row by row with gaps, and column by column (a transposed batch).
                    for (gap, add, by_rows) in [(0, false, true), (3, true, true), (1, true, false)]
                    {
                        let (ldb, ldc) = (n + gap, n + 2 * gap);
                        let (lda, ap) = if by_rows { (k + gap, 1) } else { (1, m + gap) };
                        let a: Vec<f32> = (0..m * k + (m + k) * gap).map(|i| value(i, 3)).collect();
                        let b: Vec<f32> = (0..k * ldb).map(|i| value(i, 4)).collect();
                        let held: Vec<f32> = (0..m * ldc + 5).map(|i| value(i, 5)).collect();
                        // The last columns as a tail of inner products, where one fits.
                        let rest = n % 16;
                        let tail: Vec<f32> = if by_rows && n >= 16 && (1..=TAIL).contains(&rest) {
                            (0..rest * k)
                                .map(|i| b[(i % k) * ldb + n - rest + i / k])
                                .collect()
                        } else {
                            Vec::new()
                        };
                        for tail in [&[][..], &tail[..]] {
                            let mut c = held.clone();
                            let o = Rows {
                                a: &a,
                                lda,
                                ap,
                                b: &b,
                                ldb,
                                m,
                                k,
                                n,
                                alpha: -0.5,
                                add,
                                tail,
                            };
                            assert!(rows(&o, &mut c, ldc));
                            for (idx, (&got, &was)) in c.iter().zip(&held).enumerate() {
                                let (i, j) = (idx / ldc, idx % ldc);
                                if i >= m || j >= n {
                                    assert_eq!(got.to_bits(), was.to_bits(), "wrote at {idx}");
                                    continue;
                                }
                                let sum: f64 = (0..k)
                                    .map(|p| {
                                        f64::from(a[i * lda + p * ap]) * f64::from(b[p * ldb + j])
                                    })
                                    .sum();
                                let want = if add { f64::from(was) } else { 0.0 } - 0.5 * sum;
                                assert!(
                                (f64::from(got) - want).abs() <= 1e-6 * k as f64,
                                "{m}x{k}x{n} gap {gap}, tail {}: ({i}, {j}) {got} against {want}",
                                tail.len()
                            );
                            }
                            cases += usize::from(!tail.is_empty());
                        }
                        cases += 1;
                    }
                }
            }
        }
        // Tails: n of 17, 33 and 50, row by row, twice each.
        assert_eq!(cases, 6 * 5 * 7 * 3 + 6 * 5 * 3 * 2);
        let a = vec![1.0f32; 4 * 8];
        let b = vec![1.0f32; 8 * 65];
        let wide = Rows {
            a: &a,
            lda: 8,
            ap: 1,
            b: &b,
            ldb: 65,
            m: 4,
            k: 8,
            n: 65,
            alpha: 1.0,
            add: false,
            tail: &[],
        };
        let mut c = vec![0.0f32; 4 * 65];
        assert!(!rows(&wide, &mut c, 65), "65 columns");
        assert!(
            !rows(&Rows { n: 64, ..wide }, &mut c[..3 * 65 + 63], 65),
            "short output"
        );
        assert!(
            !rows(
                &Rows {
                    m: 5,
                    n: 64,
                    ..wide
                },
                &mut c,
                65
            ),
            "short input"
        );
        // A tail too short, of too many columns, beside a row stored with gaps between
        // its steps, or of a result narrower than a vector.
        let tail = vec![1.0f32; 5 * 8];
        let tails = [
            (
                Rows {
                    n: 17,
                    tail: &tail[..7],
                    ..wide
                },
                "short tail",
            ),
            (
                Rows {
                    n: 21,
                    tail: &tail,
                    ..wide
                },
                "five columns",
            ),
            (
                Rows {
                    n: 17,
                    m: 2,
                    ap: 2,
                    lda: 8,
                    k: 2,
                    tail: &tail,
                    ..wide
                },
                "gaps in a row",
            ),
            (
                Rows {
                    n: 1,
                    tail: &tail,
                    ..wide
                },
                "one column",
            ),
        ];
        for (o, what) in &tails {
            assert!(!rows(o, &mut c, 65), "{what}");
        }
        assert!(c.iter().all(|&v| v == 0.0));
    }

    /// Sizes that do not fit the slices are refused before anything is read or written.
    #[test]
    fn short_slices_are_refused() {
        let x = vec![1.0f32; 64 * 10];
        let d = vec![1.0f32; 10 * 5];
        let ok = Outer {
            x: &x,
            ldx: 64,
            d: &d,
            dp: 5,
            dj: 1,
            rows: 64,
            k: 10,
            cols: 5,
        };
        let mut c = vec![7.0f32; 64 * 5];
        let bad = [
            Outer { k: 11, ..ok },
            Outer { cols: 6, ..ok },
            Outer { rows: 65, ..ok },
            Outer { ldx: 63, ..ok },
            Outer { k: 0, ..ok },
            Outer {
                dp: usize::MAX,
                ..ok
            },
        ];
        for o in &bad {
            assert!(!outer(o, &mut c));
            assert!(c.iter().all(|&v| v == 7.0));
        }
        assert!(!outer(&ok, &mut c[..64 * 5 - 1]));
        if available() {
            assert!(outer(&ok, &mut c));
            assert!(c.iter().all(|&v| v == 10.0));
        }
    }
}
