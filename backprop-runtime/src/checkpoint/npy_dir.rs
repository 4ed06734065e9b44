//! A directory of `.npy` files, one per tensor: `<name>.npy`, as `numpy.save` writes it.

use std::path::{Path, PathBuf};

use ndarray::ArrayD;
use ndarray_npy::{ReadNpyError, ReadNpyExt, WriteNpyExt};

use super::stage::{self, Elem, Planned, Source};
use super::{CheckpointError, NameMap};
use crate::params::Tensors;
use crate::Float;

/// The `.npy` magic string.
const MAGIC: &[u8] = b"\x93NUMPY";

/// Writes each of the model's parameters to `dir/<name>.npy` (creating `dir` if needed),
/// in the model's element type (`<f4` or `<f8`), row-major, shaped as in the model.
/// Other files in `dir` are left alone.
///
/// # Errors
///
/// [`CheckpointError::Io`] when the directory or a file cannot be written;
/// [`CheckpointError::FileName`] for a name that cannot be a file name;
/// [`CheckpointError::Element`] for a model neither `f32` nor `f64`.
///
/// ```
/// # use backprop_runtime::params::Tensors;
/// # use ndarray::{array, Array1, Array2, ArrayViewD, ArrayViewMutD};
/// # #[derive(Clone, Debug, PartialEq)]
/// # struct Affine { w: Array2<f64>, b: Array1<f64> }
/// # impl Tensors<f64> for Affine {
/// #     fn visit(&self, f: &mut dyn FnMut(&'static str, ArrayViewD<'_, f64>)) {
/// #         f("w", self.w.view().into_dyn());
/// #         f("b", self.b.view().into_dyn());
/// #     }
/// #     fn visit_mut(&mut self, f: &mut dyn FnMut(&'static str, ArrayViewMutD<'_, f64>)) {
/// #         f("w", self.w.view_mut().into_dyn());
/// #         f("b", self.b.view_mut().into_dyn());
/// #     }
/// # }
/// use backprop_runtime::checkpoint::{load_npy_dir, save_npy_dir, NameMap};
///
/// // In Python: `{p.stem: numpy.load(p) for p in pathlib.Path(dir).glob("*.npy")}`.
/// let dir = std::env::temp_dir().join(format!("affine-npy-{}", std::process::id()));
/// let trained = Affine { w: array![[1., 2., 3.], [4., 5., 6.]], b: array![0.5, -0.5, 0.] };
/// save_npy_dir(&trained, &dir)?;
/// assert!(dir.join("w.npy").is_file() && dir.join("b.npy").is_file());
///
/// let mut model = Affine { w: Array2::zeros((2, 3)), b: Array1::zeros(3) };
/// load_npy_dir(&mut model, &dir, &NameMap::new())?;
/// assert_eq!(model, trained);
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok::<(), backprop_runtime::checkpoint::CheckpointError>(())
/// ```
pub fn save_npy_dir<A: Float>(
    model: &impl Tensors<A>,
    dir: impl AsRef<Path>,
) -> Result<(), CheckpointError> {
    save_npy_dir_with(model, dir, &NameMap::new())
}

/// [`save_npy_dir`] in the layout `map` describes: each parameter in `<file name>.npy`,
/// transposed where the map says.
///
/// # Errors
///
/// As [`save_npy_dir`], and [`CheckpointError::Clash`] when the map gives two parameters
/// one name.
pub fn save_npy_dir_with<A: Float>(
    model: &impl Tensors<A>,
    dir: impl AsRef<Path>,
    map: &NameMap,
) -> Result<(), CheckpointError> {
    let dir = dir.as_ref();
    let label = dir.display().to_string();
    let elem = Elem::of::<A>()?;
    let plan = stage::plan(model, map, &label)?;
    for p in &plan {
        check_file_name(&p.file, &label)?;
    }

    // Everything is encoded before the first file is written.
    let mut files: Vec<(PathBuf, Vec<u8>)> = Vec::with_capacity(plan.len());
    let mut failed = None;
    let mut i = 0;
    model.visit(&mut |_, t| {
        if let Some(p) = plan.get(i) {
            let t = if p.transposed { t.reversed_axes() } else { t };
            let path = dir.join(format!("{}.npy", p.file));
            let mut bytes = Vec::new();
            let written = match elem {
                Elem::F32 => stage::convert::<A, f32>(t).map(|a| a.write_npy(&mut bytes)),
                Elem::F64 => stage::convert::<A, f64>(t).map(|a| a.write_npy(&mut bytes)),
            };
            match written {
                Some(Ok(())) => files.push((path, bytes)),
                Some(Err(e)) => {
                    failed.get_or_insert(CheckpointError::Malformed {
                        file: path.display().to_string(),
                        detail: format!("cannot encode tensor `{}`: {e}", p.file),
                    });
                }
                None => {
                    failed.get_or_insert(CheckpointError::Element {
                        element: std::any::type_name::<A>(),
                    });
                }
            }
        }
        i += 1;
    });
    if let Some(e) = failed {
        return Err(e);
    }

    std::fs::create_dir_all(dir).map_err(|source| CheckpointError::Io {
        action: "create the directory",
        path: dir.to_path_buf(),
        source,
    })?;
    for (path, bytes) in files {
        std::fs::write(&path, bytes).map_err(|source| CheckpointError::Io {
            action: "write",
            path,
            source,
        })?;
    }
    Ok(())
}

/// Loads every parameter of `model` from `dir/<name>.npy`, the files named and laid out as
/// `map` says.
///
/// The directory must hold one `.npy` file for each parameter, of the model's element
/// type (either byte order) and of its current shape (transposed where `map` says), and
/// no other `.npy` files but those `map` ignores; files of other extensions are not
/// looked at. Every file is read and checked before any parameter is written: on an error
/// the model is unchanged.
///
/// `.npz` archives are not read: they need ndarray-npy's `npz` feature, which brings a zip
/// implementation, while `numpy.savez(path, **arrays)` has a directory counterpart in
/// `for k, v in arrays.items(): numpy.save(f"{dir}/{k}.npy", v)`.
///
/// # Errors
///
/// - [`CheckpointError::Io`]: the directory or a file cannot be read;
/// - [`CheckpointError::Empty`]: a file of no bytes;
/// - [`CheckpointError::Truncated`]: a file shorter than its header says;
/// - [`CheckpointError::Header`]: a file that is not `.npy` or whose header does not parse;
/// - [`CheckpointError::Malformed`]: bytes after a file's data;
/// - [`CheckpointError::Names`]: none of the parameters' names among the files;
/// - [`CheckpointError::Missing`]: a parameter without a file;
/// - [`CheckpointError::Extra`]: a `.npy` file without a parameter;
/// - [`CheckpointError::Dtype`], [`CheckpointError::Shape`]: a file that is not its
///   parameter's element type or shape;
/// - [`CheckpointError::Clash`]: two parameters that `map` gives one name;
/// - [`CheckpointError::FileName`]: a name `map` gives that cannot be a file name;
/// - [`CheckpointError::Element`]: a model neither `f32` nor `f64`.
///
/// ```
/// # use backprop_runtime::params::Tensors;
/// # use ndarray::{array, Array1, Array2, ArrayViewD, ArrayViewMutD};
/// # #[derive(Clone, Debug, PartialEq)]
/// # struct Affine { w: Array2<f64>, b: Array1<f64> }
/// # impl Tensors<f64> for Affine {
/// #     fn visit(&self, f: &mut dyn FnMut(&'static str, ArrayViewD<'_, f64>)) {
/// #         f("w", self.w.view().into_dyn());
/// #         f("b", self.b.view().into_dyn());
/// #     }
/// #     fn visit_mut(&mut self, f: &mut dyn FnMut(&'static str, ArrayViewMutD<'_, f64>)) {
/// #         f("w", self.w.view_mut().into_dyn());
/// #         f("b", self.b.view_mut().into_dyn());
/// #     }
/// # }
/// use backprop_runtime::checkpoint::{load_npy_dir, save_npy_dir_with, CheckpointError, NameMap};
///
/// // `fc.weight.npy` [3, 2] and `fc.bias.npy`, as a PyTorch `nn.Linear(2, 3)` holds them.
/// let dir = std::env::temp_dir().join(format!("fc-npy-{}", std::process::id()));
/// let torch = NameMap::new().linear("fc", "w", "b");
/// let trained = Affine { w: array![[1., 2., 3.], [4., 5., 6.]], b: array![0.5, -0.5, 0.] };
/// save_npy_dir_with(&trained, &dir, &torch)?;
///
/// let mut model = Affine { w: Array2::zeros((2, 3)), b: Array1::zeros(3) };
/// // Read untransposed, `fc.weight` does not fit `w`, and the model stays as it was.
/// let wrong = NameMap::new().rename("fc.weight", "w").rename("fc.bias", "b");
/// let err = load_npy_dir(&mut model, &dir, &wrong).unwrap_err();
/// assert!(matches!(err, CheckpointError::Shape { .. }));
/// assert_eq!(model.w, Array2::<f64>::zeros((2, 3)));
///
/// load_npy_dir(&mut model, &dir, &torch)?;
/// assert_eq!(model, trained);
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok::<(), CheckpointError>(())
/// ```
pub fn load_npy_dir<A: Float>(
    model: &mut impl Tensors<A>,
    dir: impl AsRef<Path>,
    map: &NameMap,
) -> Result<(), CheckpointError> {
    let dir = dir.as_ref();
    let label = dir.display().to_string();
    let src = NpyDir {
        names: list(dir)?,
        dir: dir.to_path_buf(),
        label,
    };
    stage::load(model, &src, map)
}

/// Refuses a tensor name that is not one plain file name.
fn check_file_name(name: &str, label: &str) -> Result<(), CheckpointError> {
    let bad = name.is_empty()
        || name == "."
        || name == ".."
        || name.contains(['/', '\\', '\0'])
        || Path::new(name).is_absolute();
    if bad {
        Err(CheckpointError::FileName {
            file: label.to_string(),
            tensor: name.to_string(),
        })
    } else {
        Ok(())
    }
}

/// The stems of the `.npy` files in `dir`, sorted.
fn list(dir: &Path) -> Result<Vec<String>, CheckpointError> {
    let io = |source| CheckpointError::Io {
        action: "list",
        path: dir.to_path_buf(),
        source,
    };
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.extension().is_some_and(|e| e == "npy") && path.is_file() {
            if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
                names.push(stem.to_string());
            }
        }
    }
    names.sort();
    Ok(names)
}

/// A directory of `.npy` files.
struct NpyDir {
    dir: PathBuf,
    label: String,
    names: Vec<String>,
}

impl Source for NpyDir {
    fn label(&self) -> &str {
        &self.label
    }

    fn names(&self) -> &[String] {
        &self.names
    }

    fn read<A: Float>(&self, p: &Planned, elem: Elem) -> Result<ArrayD<A>, CheckpointError> {
        check_file_name(&p.file, &self.label)?;
        let path = self.dir.join(format!("{}.npy", p.file));
        let file = path.display().to_string();
        let bytes = std::fs::read(&path).map_err(|source| CheckpointError::Io {
            action: "read",
            path: path.clone(),
            source,
        })?;
        let header = NpyHeader::parse(&bytes, &file)?;
        let accepted = match elem {
            Elem::F32 => ["<f4", ">f4"],
            Elem::F64 => ["<f8", ">f8"],
        };
        let dtype_error = |found: String| CheckpointError::Dtype {
            file: file.clone(),
            tensor: p.file.clone(),
            param: p.param.to_string(),
            found,
            expected: accepted[0].to_string(),
        };
        if let Some(descr) = &header.descr {
            if !accepted.contains(&descr.as_str()) {
                return Err(dtype_error(descr.clone()));
            }
        }
        // Checked before ndarray-npy allocates the array the header describes.
        if header.shape != p.file_shape() {
            return Err(p.shape_error(&file, &header.shape));
        }
        let expected = header
            .shape
            .iter()
            .try_fold(elem.size(), |n, &d| n.checked_mul(d))
            .and_then(|n| n.checked_add(header.data_start))
            .map_or(u64::MAX, |n| n as u64);
        let actual = bytes.len() as u64;
        if header.descr.is_some() && actual < expected {
            return Err(CheckpointError::Truncated {
                file,
                expected,
                actual,
            });
        }

        let read = match elem {
            Elem::F32 => ArrayD::<f32>::read_npy(bytes.as_slice())
                .map(|a| stage::convert::<f32, A>(a.view())),
            Elem::F64 => ArrayD::<f64>::read_npy(bytes.as_slice())
                .map(|a| stage::convert::<f64, A>(a.view())),
        };
        let malformed = |detail: String| CheckpointError::Malformed {
            file: file.clone(),
            detail,
        };
        match read {
            Ok(Some(array)) => Ok(array),
            Ok(None) => Err(CheckpointError::Element {
                element: std::any::type_name::<A>(),
            }),
            Err(ReadNpyError::WrongDescriptor(descr)) => Err(dtype_error(descr.to_string())),
            Err(ReadNpyError::MissingData) => Err(CheckpointError::Truncated {
                file,
                expected,
                actual,
            }),
            Err(ReadNpyError::ExtraBytes(n)) => Err(malformed(format!(
                "{n} bytes follow the data of tensor `{}`",
                p.file
            ))),
            Err(ReadNpyError::ParseHeader(e)) => Err(CheckpointError::Header {
                file,
                detail: e.to_string(),
            }),
            Err(ReadNpyError::Io(e)) => Err(malformed(format!("cannot read its data: {e}"))),
            Err(ReadNpyError::ParseData(e)) => Err(malformed(format!("cannot read its data: {e}"))),
            Err(ReadNpyError::LengthOverflow) => Err(malformed(
                "its shape holds more elements than memory can".into(),
            )),
            Err(ReadNpyError::WrongNdim(_, n)) => Err(malformed(format!(
                "it cannot be read as an array of {n} axes"
            ))),
        }
    }
}

/// What the loader needs of a `.npy` header, read before ndarray-npy reads the file.
#[derive(Debug)]
struct NpyHeader {
    /// Where the data starts.
    data_start: usize,
    /// The type descriptor, when it is a plain string (`'<f4'`).
    descr: Option<String>,
    /// The shape.
    shape: Vec<usize>,
}

impl NpyHeader {
    /// The magic string, the version, the header's length and, from the header's Python
    /// dict, `descr` and `shape`.
    fn parse(bytes: &[u8], file: &str) -> Result<Self, CheckpointError> {
        let header = |detail: &str| CheckpointError::Header {
            file: file.to_string(),
            detail: detail.to_string(),
        };
        let truncated = |expected: usize| CheckpointError::Truncated {
            file: file.to_string(),
            expected: expected as u64,
            actual: bytes.len() as u64,
        };
        if bytes.is_empty() {
            return Err(CheckpointError::Empty {
                file: file.to_string(),
            });
        }
        let magic = bytes.get(..MAGIC.len()).unwrap_or(bytes);
        if !MAGIC.starts_with(magic) {
            return Err(header(
                "it does not start with \\x93NUMPY: is it a .npy file?",
            ));
        }
        let len_bytes = match bytes.get(MAGIC.len()) {
            None => return Err(truncated(MAGIC.len() + 4)),
            Some(1) => 2,
            Some(2 | 3) => 4,
            Some(major) => {
                return Err(CheckpointError::Header {
                    file: file.to_string(),
                    detail: format!("it is of .npy version {major}, which is not known"),
                })
            }
        };
        let prefix = MAGIC.len() + 2 + len_bytes;
        let Some(len) = bytes.get(MAGIC.len() + 2..prefix) else {
            return Err(truncated(prefix));
        };
        let len = len
            .iter()
            .rev()
            .fold(0usize, |n, &b| (n << 8) | usize::from(b));
        let data_start = prefix.saturating_add(len);
        let Some(dict) = bytes.get(prefix..data_start) else {
            return Err(truncated(data_start));
        };
        let dict = String::from_utf8_lossy(dict);
        // ndarray-npy allocates the shape its parser reads before it reads the data: the
        // shape read here must be that one. Without escapes and with one `shape` in the
        // text, the only Python string spelling the key `shape` is the one found here.
        if dict.contains('\\') || dict.matches("shape").count() != 1 {
            return Err(header(
                "its header is not a plain dict of descr, fortran_order and shape",
            ));
        }
        let shape = value(&dict, "shape")
            .and_then(tuple)
            .ok_or_else(|| header("its header has no readable 'shape'"))?;
        let descr = value(&dict, "descr").and_then(|v| {
            let quote = v.chars().next().filter(|c| *c == '\'' || *c == '"')?;
            let rest = &v[1..];
            rest.find(quote).map(|end| rest[..end].to_string())
        });
        Ok(NpyHeader {
            data_start,
            descr,
            shape,
        })
    }
}

/// The text after `'key':` in a Python dict literal.
fn value<'h>(dict: &'h str, key: &str) -> Option<&'h str> {
    for quote in ['\'', '"'] {
        let pattern = format!("{quote}{key}{quote}");
        let mut from = 0;
        while let Some(at) = dict.get(from..).and_then(|d| d.find(&pattern)) {
            from += at + pattern.len();
            if let Some(v) = dict
                .get(from..)
                .and_then(|d| d.trim_start().strip_prefix(':'))
            {
                return Some(v.trim_start());
            }
        }
    }
    None
}

/// A Python tuple (or list) of integers, `(3, 4)`, `(3,)` or `()`.
fn tuple(v: &str) -> Option<Vec<usize>> {
    let close = match v.chars().next()? {
        '(' => ')',
        '[' => ']',
        _ => return None,
    };
    let inner = &v[1..v.find(close)?];
    inner
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| d.trim_end_matches('L').parse().ok())
        .collect()
}
