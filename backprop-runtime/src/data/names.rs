//! First names shipped with the crate, compiled in from `data/names.txt` (its source, the
//! 1990 US Census lists in the `names` package, and its licence are in `data/README.md`).

const NAMES: &str = include_str!("../../data/names.txt");

/// The 5163 first names of the 1990 US Census, each once, in lower case letters `a`–`z`
/// (2 to 11 of them): the female names, most frequent first, then the male names not
/// among them. With `.` for the start and the end of a name, their characters are a
/// vocabulary of 27, as makemore's.
///
/// ```
/// let names = backprop_runtime::data::names();
/// assert_eq!(names.len(), 5163);
/// assert_eq!(&names[..3], ["mary", "patricia", "linda"]);
/// assert!(names.iter().all(|n| (2..=11).contains(&n.len()) && n.bytes().all(|c| c.is_ascii_lowercase())));
/// ```
pub fn names() -> Vec<&'static str> {
    NAMES.lines().collect()
}
