//! The safetensors format: one file, an 8-byte header length, a JSON header naming each
//! tensor's dtype, shape and byte range, then the tensors' bytes, little-endian, row-major.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use ndarray::{ArrayD, IxDyn};
use safetensors::tensor::Metadata;
use safetensors::{Dtype, SafeTensorError, SafeTensors, View};

use super::stage::{self, Elem, Planned, Source};
use super::{CheckpointError, NameMap};
use crate::params::Tensors;
use crate::Float;

/// How errors name the in-memory forms' file.
const BYTES: &str = "<bytes>";
/// The header length field.
const LEN_BYTES: u64 = 8;
/// The largest header the safetensors crate reads.
const MAX_HEADER: u64 = 100_000_000;

/// The model's parameters as the bytes of a safetensors file: each under its name, in the
/// model's element type (`F32` or `F64`), row-major, shaped as in the model.
///
/// # Errors
///
/// [`CheckpointError::Element`] for a model neither `f32` nor `f64`.
///
/// ```
/// # use backprop_runtime::params::Tensors;
/// # use ndarray::{array, Array1, Array2, ArrayViewD, ArrayViewMutD};
/// # #[derive(Clone, Debug, PartialEq)]
/// # struct Affine { w: Array2<f32>, b: Array1<f32> }
/// # impl Tensors<f32> for Affine {
/// #     fn visit(&self, f: &mut dyn FnMut(&'static str, ArrayViewD<'_, f32>)) {
/// #         f("w", self.w.view().into_dyn());
/// #         f("b", self.b.view().into_dyn());
/// #     }
/// #     fn visit_mut(&mut self, f: &mut dyn FnMut(&'static str, ArrayViewMutD<'_, f32>)) {
/// #         f("w", self.w.view_mut().into_dyn());
/// #         f("b", self.b.view_mut().into_dyn());
/// #     }
/// # }
/// use backprop_runtime::checkpoint::{load_safetensors_bytes, to_safetensors, NameMap};
///
/// // `Affine` implements `Tensors<f32>` with parameters `w` [2, 3] and `b` [3].
/// let trained = Affine { w: array![[1., 2., 3.], [4., 5., 6.]], b: array![0.5, -0.5, 0.] };
/// let bytes = to_safetensors(&trained)?;
///
/// let mut model = Affine { w: Array2::zeros((2, 3)), b: Array1::zeros(3) };
/// load_safetensors_bytes(&mut model, &bytes, &NameMap::new())?;
/// assert_eq!(model, trained);
/// # Ok::<(), backprop_runtime::checkpoint::CheckpointError>(())
/// ```
pub fn to_safetensors<A: Float>(model: &impl Tensors<A>) -> Result<Vec<u8>, CheckpointError> {
    to_safetensors_with(model, &NameMap::new())
}

/// [`to_safetensors`] in the layout `map` describes: each parameter under its file name,
/// transposed where the map says.
///
/// # Errors
///
/// [`CheckpointError::Clash`] when the map gives two parameters one name;
/// [`CheckpointError::Element`] for a model neither `f32` nor `f64`.
pub fn to_safetensors_with<A: Float>(
    model: &impl Tensors<A>,
    map: &NameMap,
) -> Result<Vec<u8>, CheckpointError> {
    let tensors = encode(model, map, BYTES)?;
    safetensors::serialize(tensors.iter().map(|(n, t)| (n.as_str(), t)), header())
        .map_err(|e| crate_error(e, BYTES, &[], None, None))
}

/// Writes the model's parameters to the safetensors file `path`, as [`to_safetensors`]
/// lays them out. The file is written beside `path` and renamed over it, so a reader never
/// sees half of it.
///
/// # Errors
///
/// [`CheckpointError::Io`] when the file cannot be written; [`CheckpointError::Element`]
/// for a model neither `f32` nor `f64`.
///
/// ```
/// # use backprop_runtime::params::Tensors;
/// # use ndarray::{array, Array1, Array2, ArrayViewD, ArrayViewMutD};
/// # #[derive(Clone, Debug, PartialEq)]
/// # struct Affine { w: Array2<f32>, b: Array1<f32> }
/// # impl Tensors<f32> for Affine {
/// #     fn visit(&self, f: &mut dyn FnMut(&'static str, ArrayViewD<'_, f32>)) {
/// #         f("w", self.w.view().into_dyn());
/// #         f("b", self.b.view().into_dyn());
/// #     }
/// #     fn visit_mut(&mut self, f: &mut dyn FnMut(&'static str, ArrayViewMutD<'_, f32>)) {
/// #         f("w", self.w.view_mut().into_dyn());
/// #         f("b", self.b.view_mut().into_dyn());
/// #     }
/// # }
/// use backprop_runtime::checkpoint::{load_safetensors, save_safetensors, NameMap};
///
/// let path = std::env::temp_dir().join(format!("affine-{}.safetensors", std::process::id()));
/// let trained = Affine { w: array![[1., 2., 3.], [4., 5., 6.]], b: array![0.5, -0.5, 0.] };
/// save_safetensors(&trained, &path)?;
///
/// let mut model = Affine { w: Array2::zeros((2, 3)), b: Array1::zeros(3) };
/// load_safetensors(&mut model, &path, &NameMap::new())?;
/// assert_eq!(model, trained);
/// # std::fs::remove_file(&path).ok();
/// # Ok::<(), backprop_runtime::checkpoint::CheckpointError>(())
/// ```
pub fn save_safetensors<A: Float>(
    model: &impl Tensors<A>,
    path: impl AsRef<Path>,
) -> Result<(), CheckpointError> {
    save_safetensors_with(model, path, &NameMap::new())
}

/// [`save_safetensors`] in the layout `map` describes: each parameter under its file name,
/// transposed where the map says; `NameMap::linear` writes a model's weights as PyTorch's
/// `nn.Linear` holds them.
///
/// # Errors
///
/// [`CheckpointError::Io`] when the file cannot be written; [`CheckpointError::Clash`]
/// when the map gives two parameters one name; [`CheckpointError::Element`] for a model
/// neither `f32` nor `f64`.
///
/// ```
/// # use backprop_runtime::params::Tensors;
/// # use ndarray::{array, Array1, Array2, ArrayViewD, ArrayViewMutD};
/// # #[derive(Clone, Debug, PartialEq)]
/// # struct Affine { w: Array2<f32>, b: Array1<f32> }
/// # impl Tensors<f32> for Affine {
/// #     fn visit(&self, f: &mut dyn FnMut(&'static str, ArrayViewD<'_, f32>)) {
/// #         f("w", self.w.view().into_dyn());
/// #         f("b", self.b.view().into_dyn());
/// #     }
/// #     fn visit_mut(&mut self, f: &mut dyn FnMut(&'static str, ArrayViewMutD<'_, f32>)) {
/// #         f("w", self.w.view_mut().into_dyn());
/// #         f("b", self.b.view_mut().into_dyn());
/// #     }
/// # }
/// use backprop_runtime::checkpoint::{save_safetensors_with, NameMap};
///
/// // `w` is [in, out] = [2, 3]; PyTorch's `torch.nn.Linear(2, 3)` holds `fc.weight` as
/// // [3, 2] and `fc.bias` as [3]: `model.load_state_dict(safetensors.torch.load_file(path))`.
/// let model = Affine { w: array![[1., 2., 3.], [4., 5., 6.]], b: array![0.5, -0.5, 0.] };
/// let path = std::env::temp_dir().join(format!("fc-{}.safetensors", std::process::id()));
/// save_safetensors_with(&model, &path, &NameMap::new().linear("fc", "w", "b"))?;
/// # std::fs::remove_file(&path).ok();
/// # Ok::<(), backprop_runtime::checkpoint::CheckpointError>(())
/// ```
pub fn save_safetensors_with<A: Float>(
    model: &impl Tensors<A>,
    path: impl AsRef<Path>,
    map: &NameMap,
) -> Result<(), CheckpointError> {
    let path = path.as_ref();
    let label = path.display().to_string();
    let tensors = encode(model, map, &label)?;
    safetensors::serialize_to_file(tensors.iter().map(|(n, t)| (n.as_str(), t)), header(), path)
        .map_err(|e| crate_error(e, &label, &[], None, Some(path)))
}

/// Loads every parameter of `model` from the safetensors file `path`, the file's tensors
/// named and laid out as `map` says.
///
/// The file must hold one tensor for each parameter, of the model's element type and of
/// its current shape (transposed where `map` says), and no other tensors but those `map`
/// ignores. Every tensor is read and checked before any is written: on an error the model
/// is unchanged.
///
/// # Errors
///
/// [`CheckpointError::Io`] when the file cannot be read, and any error of
/// [`load_safetensors_bytes`].
///
/// ```
/// # use backprop_runtime::params::Tensors;
/// # use ndarray::{array, Array1, Array2, ArrayViewD, ArrayViewMutD};
/// # #[derive(Clone, Debug, PartialEq)]
/// # struct Affine { w: Array2<f32>, b: Array1<f32> }
/// # impl Tensors<f32> for Affine {
/// #     fn visit(&self, f: &mut dyn FnMut(&'static str, ArrayViewD<'_, f32>)) {
/// #         f("w", self.w.view().into_dyn());
/// #         f("b", self.b.view().into_dyn());
/// #     }
/// #     fn visit_mut(&mut self, f: &mut dyn FnMut(&'static str, ArrayViewMutD<'_, f32>)) {
/// #         f("w", self.w.view_mut().into_dyn());
/// #         f("b", self.b.view_mut().into_dyn());
/// #     }
/// # }
/// use backprop_runtime::checkpoint::{load_safetensors, save_safetensors_with, CheckpointError, NameMap};
///
/// let path = std::env::temp_dir().join(format!("torch-{}.safetensors", std::process::id()));
/// // A file as PyTorch writes a `nn.Linear(2, 3)` named `fc`: `fc.weight` [3, 2], `fc.bias`.
/// let torch = NameMap::new().linear("fc", "w", "b");
/// let trained = Affine { w: array![[1., 2., 3.], [4., 5., 6.]], b: array![0.5, -0.5, 0.] };
/// save_safetensors_with(&trained, &path, &torch)?;
///
/// let mut model = Affine { w: Array2::zeros((2, 3)), b: Array1::zeros(3) };
/// // Under the model's own names, no tensor is found: the error says how to map them.
/// let err = load_safetensors(&mut model, &path, &NameMap::new()).unwrap_err();
/// assert!(matches!(err, CheckpointError::Names { .. }));
/// assert!(err.to_string().contains("the file has fc.bias, fc.weight"));
///
/// load_safetensors(&mut model, &path, &torch)?;
/// assert_eq!(model, trained);
/// # std::fs::remove_file(&path).ok();
/// # Ok::<(), CheckpointError>(())
/// ```
pub fn load_safetensors<A: Float>(
    model: &mut impl Tensors<A>,
    path: impl AsRef<Path>,
    map: &NameMap,
) -> Result<(), CheckpointError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| CheckpointError::Io {
        action: "read",
        path: path.to_path_buf(),
        source,
    })?;
    load(model, &bytes, &path.display().to_string(), map)
}

/// [`load_safetensors`] from the bytes of a safetensors file; errors name the file
/// `<bytes>`.
///
/// # Errors
///
/// - [`CheckpointError::Empty`]: no bytes;
/// - [`CheckpointError::Truncated`]: fewer bytes than the header says;
/// - [`CheckpointError::Header`]: a header that does not parse;
/// - [`CheckpointError::Malformed`]: a header whose offsets, shapes and dtypes disagree,
///   or bytes after the last tensor;
/// - [`CheckpointError::Names`]: none of the parameters' names in the file;
/// - [`CheckpointError::Missing`]: a parameter without a tensor;
/// - [`CheckpointError::Extra`]: a tensor without a parameter;
/// - [`CheckpointError::Dtype`], [`CheckpointError::Shape`]: a tensor that is not its
///   parameter's element type or shape;
/// - [`CheckpointError::Clash`]: two parameters that `map` gives one name;
/// - [`CheckpointError::Element`]: a model neither `f32` nor `f64`.
pub fn load_safetensors_bytes<A: Float>(
    model: &mut impl Tensors<A>,
    bytes: &[u8],
    map: &NameMap,
) -> Result<(), CheckpointError> {
    load(model, bytes, BYTES, map)
}

fn load<A: Float>(
    model: &mut impl Tensors<A>,
    bytes: &[u8],
    label: &str,
    map: &NameMap,
) -> Result<(), CheckpointError> {
    let file = parse(bytes, label)?;
    stage::load(model, &file, map)
}

/// The file's metadata: PyTorch's loaders (`transformers`) look for `format: pt`.
fn header() -> Option<HashMap<String, String>> {
    Some(HashMap::from([("format".to_string(), "pt".to_string())]))
}

/// One tensor's bytes, as the safetensors crate writes them.
struct Encoded {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl View for &Encoded {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

/// Each parameter under its file name, in the file's layout.
fn encode<A: Float>(
    model: &impl Tensors<A>,
    map: &NameMap,
    label: &str,
) -> Result<Vec<(String, Encoded)>, CheckpointError> {
    let dtype = match Elem::of::<A>()? {
        Elem::F32 => Dtype::F32,
        Elem::F64 => Dtype::F64,
    };
    let plan = stage::plan(model, map, label)?;
    let mut out = Vec::with_capacity(plan.len());
    let mut i = 0;
    model.visit(&mut |_, t| {
        if let Some(p) = plan.get(i) {
            let t = if p.transposed { t.reversed_axes() } else { t };
            out.push((
                p.file.clone(),
                Encoded {
                    dtype,
                    shape: t.shape().to_vec(),
                    data: stage::le_bytes(t),
                },
            ));
        }
        i += 1;
    });
    Ok(out)
}

/// A parsed safetensors file.
struct File<'b> {
    label: String,
    names: Vec<String>,
    metadata: Metadata,
    data: &'b [u8],
}

/// Parses and validates the header, mapping each of the crate's errors to ours.
fn parse<'b>(bytes: &'b [u8], label: &str) -> Result<File<'b>, CheckpointError> {
    if bytes.is_empty() {
        return Err(CheckpointError::Empty {
            file: label.to_string(),
        });
    }
    let scan = guard(bytes, label)?;
    let (n, metadata) = SafeTensors::read_metadata(bytes)
        .map_err(|e| crate_error(e, label, bytes, Some(&scan), None))?;
    let data = 8usize
        .checked_add(n)
        .and_then(|start| bytes.get(start..))
        .ok_or_else(|| CheckpointError::Truncated {
            file: label.to_string(),
            expected: LEN_BYTES.saturating_add(n as u64),
            actual: bytes.len() as u64,
        })?;
    Ok(File {
        label: label.to_string(),
        names: metadata.offset_keys(),
        metadata,
        data,
    })
}

impl Source for File<'_> {
    fn label(&self) -> &str {
        &self.label
    }

    fn names(&self) -> &[String] {
        &self.names
    }

    fn read<A: Float>(&self, p: &Planned, elem: Elem) -> Result<ArrayD<A>, CheckpointError> {
        let malformed = |detail: String| CheckpointError::Malformed {
            file: self.label.clone(),
            detail,
        };
        let info = self
            .metadata
            .info(&p.file)
            .ok_or_else(|| malformed(format!("tensor `{}` is named but not described", p.file)))?;
        let expected = match elem {
            Elem::F32 => Dtype::F32,
            Elem::F64 => Dtype::F64,
        };
        if info.dtype != expected {
            return Err(CheckpointError::Dtype {
                file: self.label.clone(),
                tensor: p.file.clone(),
                param: p.param.to_string(),
                found: info.dtype.to_string(),
                expected: expected.to_string(),
            });
        }
        if info.shape != p.file_shape() {
            return Err(p.shape_error(&self.label, &info.shape));
        }
        let (start, end) = info.data_offsets;
        let bytes = self.data.get(start..end).ok_or_else(|| {
            malformed(format!("tensor `{}` lies past the end of the data", p.file))
        })?;
        let values = stage::from_le_bytes::<A>(bytes, elem).ok_or_else(|| {
            malformed(format!(
                "tensor `{}` is not a whole number of elements",
                p.file
            ))
        })?;
        ArrayD::from_shape_vec(IxDyn(&info.shape), values)
            .map_err(|_| malformed(format!("tensor `{}` does not span its shape", p.file)))
    }
}

/// What [`guard`] found in the header.
#[derive(Debug, Default)]
struct Scan {
    /// The header's length, when the file holds all of it.
    header: Option<u64>,
    /// The largest end offset of any tensor's data.
    data_end: u64,
}

/// Checks the numbers in the header before the safetensors crate adds them up: its
/// `read_metadata` sums the last tensor's end offset, 8 and the header's length unchecked,
/// so offsets near `u64::MAX` overflow (a panic in debug builds, a wrapped length check in
/// release ones). No file or array is larger than `isize::MAX` bytes: a number past that is
/// refused here. Returns where the header says the data ends.
fn guard(bytes: &[u8], label: &str) -> Result<Scan, CheckpointError> {
    let Some(len) = bytes.get(..8).and_then(|b| <[u8; 8]>::try_from(b).ok()) else {
        return Ok(Scan::default());
    };
    let n = u64::from_le_bytes(len);
    let header = usize::try_from(n)
        .ok()
        .filter(|_| n <= MAX_HEADER)
        .and_then(|n| bytes.get(8..8 + n));
    let Some(header) = header else {
        return Ok(Scan::default());
    };
    let (largest, data_end, largest_offset) = numbers(header);
    let limit = isize::MAX as u64;
    if largest_offset > limit {
        return Err(CheckpointError::Truncated {
            file: label.to_string(),
            expected: LEN_BYTES.saturating_add(n).saturating_add(largest_offset),
            actual: bytes.len() as u64,
        });
    }
    if largest > limit {
        return Err(CheckpointError::Malformed {
            file: label.to_string(),
            detail: format!("the header holds the number {largest}, larger than any array"),
        });
    }
    Ok(Scan {
        header: Some(n),
        data_end,
    })
}

/// The largest integer in a JSON text outside its strings (saturating at `u64::MAX`), the
/// largest end of a `"data_offsets": [start, end]` pair, and the largest number of such
/// a pair.
fn numbers(json: &[u8]) -> (u64, u64, u64) {
    #[derive(Clone, Copy, PartialEq)]
    enum Token {
        Offsets,
        Str,
        Num(u64),
        Punct(u8),
    }
    let (mut largest, mut end, mut largest_offset) = (0u64, 0u64, 0u64);
    let mut last = [Token::Punct(b' '); 6];
    let mut i = 0;
    while let Some(&b) = json.get(i) {
        let token = match b {
            b'"' => {
                let start = i + 1;
                i = start;
                while let Some(&c) = json.get(i) {
                    match c {
                        b'\\' => i += 2,
                        b'"' => break,
                        _ => i += 1,
                    }
                }
                let s = json.get(start..i).unwrap_or_default();
                i += 1;
                if s == b"data_offsets" {
                    Token::Offsets
                } else {
                    Token::Str
                }
            }
            b'0'..=b'9' => {
                let mut v = 0u64;
                while let Some(&d @ b'0'..=b'9') = json.get(i) {
                    v = v.saturating_mul(10).saturating_add(u64::from(d - b'0'));
                    i += 1;
                }
                largest = largest.max(v);
                Token::Num(v)
            }
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            _ => {
                i += 1;
                Token::Punct(b)
            }
        };
        last.rotate_left(1);
        last[5] = token;
        if let [Token::Offsets, Token::Punct(b':'), Token::Punct(b'['), Token::Num(s), Token::Punct(b','), Token::Num(e)] =
            last
        {
            end = end.max(e);
            largest_offset = largest_offset.max(s).max(e);
        }
    }
    (largest, end, largest_offset)
}

/// The safetensors crate's error as ours: `bytes` and `scan` are the file being read, if
/// any, `path` the file being written.
fn crate_error(
    e: SafeTensorError,
    label: &str,
    bytes: &[u8],
    scan: Option<&Scan>,
    path: Option<&Path>,
) -> CheckpointError {
    let file = label.to_string();
    let header = |detail: String| CheckpointError::Header {
        file: file.clone(),
        detail,
    };
    let malformed = |detail: String| CheckpointError::Malformed {
        file: file.clone(),
        detail,
    };
    let actual = bytes.len() as u64;
    match e {
        SafeTensorError::HeaderTooSmall => CheckpointError::Truncated {
            file,
            expected: LEN_BYTES,
            actual,
        },
        SafeTensorError::InvalidHeaderLength => CheckpointError::Truncated {
            file,
            expected: header_len(bytes).map_or(u64::MAX, |n| n.saturating_add(LEN_BYTES)),
            actual,
        },
        SafeTensorError::HeaderTooLarge => header(format!(
            "its first 8 bytes give a header of {} bytes, more than the {MAX_HEADER} a \
             safetensors header may have: is it a safetensors file?",
            header_len(bytes).unwrap_or(u64::MAX)
        )),
        SafeTensorError::InvalidHeader(e) => header(format!("the header is not UTF-8: {e}")),
        SafeTensorError::InvalidHeaderDeserialization(e) | SafeTensorError::JsonError(e) => header(
            format!("the header is not the JSON of a safetensors header: {e}"),
        ),
        SafeTensorError::MetadataIncompleteBuffer => {
            match scan.and_then(|s| Some((s.header?, s.data_end))) {
                Some((n, data_end)) => {
                    let expected = LEN_BYTES.saturating_add(n).saturating_add(data_end);
                    if actual < expected {
                        CheckpointError::Truncated {
                            file,
                            expected,
                            actual,
                        }
                    } else {
                        malformed(format!(
                        "{} bytes follow the last tensor's data, which its header says ends at \
                         byte {expected}",
                        actual - expected
                    ))
                    }
                }
                None => malformed("its data is not the length its header says".into()),
            }
        }
        SafeTensorError::InvalidOffset(name) => malformed(format!(
            "tensor `{name}`'s data_offsets do not start where the previous tensor's end"
        )),
        SafeTensorError::TensorInvalidInfo => {
            malformed("a tensor's data_offsets do not span its dtype and shape".into())
        }
        SafeTensorError::ValidationOverflow => {
            malformed("a tensor's shape holds more bytes than a file can".into())
        }
        SafeTensorError::MisalignedSlice => {
            malformed("a tensor of sub-byte elements does not end on a byte".into())
        }
        SafeTensorError::InvalidTensorView(dtype, shape, n) => malformed(format!(
            "a {dtype} tensor of shape {} cannot be made of {n} bytes",
            super::error::dims(&shape)
        )),
        SafeTensorError::TensorNotFound(name) => malformed(format!("tensor `{name}` is not in it")),
        SafeTensorError::IoError(source) => CheckpointError::Io {
            action: if path.is_some() { "write" } else { "read" },
            path: path.map_or_else(|| label.into(), Path::to_path_buf),
            source,
        },
    }
}

/// The header length the first 8 bytes give.
fn header_len(bytes: &[u8]) -> Option<u64> {
    let b = <[u8; 8]>::try_from(bytes.get(..8)?).ok()?;
    Some(u64::from_le_bytes(b))
}
