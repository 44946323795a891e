//! Embeddings by frame name, all in one block.
//!
//! A long run holds one row per kept frame until its end (the dedup rule needs them all). Held as
//! one allocation each (5 kB for a 1280-d row), they left the heap fragmented: resident memory grew
//! by 20 kB per frame where the rows took 5 kB. One growing block grows by what it holds.

use std::borrow::Cow;
use std::collections::HashMap;

/// Rows of one width, found by name; a name given again replaces its row.
#[derive(Debug, Default)]
pub struct NamedRows {
    dim: usize,
    data: Vec<f32>,
    index: HashMap<String, usize>,
}

impl NamedRows {
    /// Rows already in one block, `names[i]` naming row `i` (a later repeat of a name wins).
    pub fn from_block(names: Vec<String>, data: Vec<f32>, dim: usize) -> Self {
        assert_eq!(data.len(), names.len() * dim, "one row of {dim} per name");
        let index = names.into_iter().enumerate().map(|(i, n)| (n, i)).collect();
        NamedRows { dim, data, index }
    }

    /// The width of the rows (0 while empty).
    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    pub fn get(&self, name: &str) -> Option<&[f32]> {
        let &i = self.index.get(name)?;
        Some(&self.data[i * self.dim..(i + 1) * self.dim])
    }

    /// The rows of `names`, in that order, one after another (zeros for a name not held), and the
    /// positions of the names that are held. Borrowed from the block when the rows already lie that
    /// way, as a run's frames do, embedded in order: a copy of every row would double the memory
    /// of a long run just when it decides.
    pub fn gather<S: AsRef<str>>(&self, names: &[Option<S>]) -> (Cow<'_, [f32]>, Vec<usize>) {
        let at: Vec<Option<usize>> = names
            .iter()
            .map(|n| self.index.get(n.as_ref()?.as_ref()).copied())
            .collect();
        let present: Vec<usize> = (0..at.len()).filter(|&k| at[k].is_some()).collect();
        let first = at.first().copied().flatten();
        if let Some(first) = first
            && at.iter().enumerate().all(|(k, i)| *i == Some(first + k))
        {
            let block = &self.data[first * self.dim..(first + at.len()) * self.dim];
            return (Cow::Borrowed(block), present);
        }
        let mut rows = vec![0f32; at.len() * self.dim];
        for (k, i) in at.iter().enumerate() {
            if let Some(i) = i {
                rows[k * self.dim..(k + 1) * self.dim]
                    .copy_from_slice(&self.data[i * self.dim..(i + 1) * self.dim]);
            }
        }
        (Cow::Owned(rows), present)
    }

    /// Adds or replaces `name`'s row; `false` (nothing stored) when its width is not that of the
    /// rows already held.
    pub fn insert(&mut self, name: &str, row: &[f32]) -> bool {
        if self.data.is_empty() {
            self.dim = row.len();
        }
        if row.len() != self.dim || row.is_empty() {
            return false;
        }
        match self.index.get(name) {
            Some(&i) => self.data[i * self.dim..(i + 1) * self.dim].copy_from_slice(row),
            None => {
                self.index
                    .insert(name.to_string(), self.data.len() / self.dim);
                self.data.extend_from_slice(row);
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_found_by_name_and_replaced() {
        let mut r = NamedRows::default();
        assert!(r.is_empty() && r.get("a").is_none());
        assert!(r.insert("a", &[1.0, 2.0]));
        assert!(r.insert("b", &[3.0, 4.0]));
        assert!(!r.insert("c", &[5.0]), "another width is refused");
        assert!(r.insert("a", &[6.0, 7.0]));
        assert_eq!((r.len(), r.dim()), (2, 2));
        assert_eq!(r.get("a"), Some(&[6.0, 7.0][..]));
        assert_eq!(r.get("b"), Some(&[3.0, 4.0][..]));
        assert_eq!(r.get("c"), None);
        let r = NamedRows::from_block(vec!["x".into(), "y".into()], vec![1.0, 2.0, 3.0, 4.0], 2);
        assert_eq!(r.get("y"), Some(&[3.0, 4.0][..]));
    }

    #[test]
    fn rows_in_place_are_borrowed_others_copied() {
        let mut r = NamedRows::default();
        for (n, v) in [("a", 1.0), ("b", 2.0), ("c", 3.0)] {
            r.insert(n, &[v, -v]);
        }
        let (rows, present) = r.gather(&[Some("b"), Some("c")]);
        assert!(matches!(rows, Cow::Borrowed(_)));
        assert_eq!(
            (&rows[..], present),
            (&[2.0, -2.0, 3.0, -3.0][..], vec![0, 1])
        );
        let (rows, present) = r.gather(&[Some("c"), None, Some("z"), Some("a")]);
        assert!(matches!(rows, Cow::Owned(_)));
        let want = [3.0, -3.0, 0.0, 0.0, 0.0, 0.0, 1.0, -1.0];
        assert_eq!((&rows[..], present), (&want[..], vec![0, 3]));
        let (rows, present) = r.gather::<&str>(&[]);
        assert!(rows.is_empty() && present.is_empty());
    }
}
