//! What the watch has already published, so that a relist (after a 410 Gone, or a
//! restart of the watch) emits only what changed, and repeats of an Event become one
//! occurrence record each time their count grows.

use std::collections::{HashMap, HashSet};

/// What a relist (after a 410 Gone, or a restart of the watch) lists, to find what
/// vanished while the watch was down.
#[derive(Default)]
pub struct Relist {
    listed: Option<HashSet<String>>,
}

impl Relist {
    pub fn begin(&mut self) {
        self.listed = Some(HashSet::new());
    }

    /// `key` came in (listed, if a relist is under way).
    pub fn saw(&mut self, key: &str) {
        if let Some(listed) = &mut self.listed {
            listed.insert(key.to_string());
        }
    }

    /// The relist is complete: what it listed (`None` when none was under way).
    pub fn end(&mut self) -> Option<HashSet<String>> {
        self.listed.take()
    }
}

/// Objects by uid -> resourceVersion last published.
#[derive(Default)]
pub struct Published {
    versions: HashMap<String, String>,
    relist: Relist,
}

impl Published {
    /// A relist begins: remember what it lists, to find what vanished meanwhile.
    pub fn begin_relist(&mut self) {
        self.relist.begin();
    }

    /// Whether this version of the object is new (and so worth publishing).
    pub fn apply(&mut self, uid: &str, resource_version: &str) -> bool {
        self.relist.saw(uid);
        if self.versions.get(uid).map(String::as_str) == Some(resource_version) {
            return false;
        }
        self.versions.insert(uid.to_string(), resource_version.to_string());
        true
    }

    /// The relist is complete: uids published before but not listed now were deleted
    /// while the watch was down.
    pub fn end_relist(&mut self) -> Vec<String> {
        let Some(seen) = self.relist.end() else { return Vec::new() };
        let gone: Vec<String> = self.versions.keys().filter(|uid| !seen.contains(*uid)).cloned().collect();
        for uid in &gone {
            self.versions.remove(uid);
        }
        gone
    }

    /// Whether the delete is news.
    pub fn delete(&mut self, uid: &str) -> bool {
        self.versions.remove(uid).is_some()
    }
}

/// Event uid -> highest occurrence count published.
#[derive(Default)]
pub struct Occurrences {
    counts: HashMap<String, i32>,
}

impl Occurrences {
    /// `Some(count)` when this is a new Event or its count grew.
    pub fn observe(&mut self, uid: &str, count: i32) -> Option<i32> {
        match self.counts.get(uid) {
            Some(c) if *c >= count => None,
            _ => {
                self.counts.insert(uid.to_string(), count);
                Some(count)
            }
        }
    }

    pub fn forget(&mut self, uid: &str) {
        self.counts.remove(uid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relist_emits_only_changes_and_finds_deletes() {
        let mut p = Published::default();
        assert!(p.apply("a", "1"));
        assert!(p.apply("b", "1"));
        assert!(!p.apply("a", "1"), "same version is not news");
        p.begin_relist();
        assert!(!p.apply("a", "1"), "relisted unchanged: no duplicate");
        assert!(p.apply("c", "5"));
        assert_eq!(p.end_relist(), vec!["b".to_string()], "b vanished during the gap");
        assert!(p.apply("a", "2"));
        assert!(p.delete("a"));
        assert!(!p.delete("a"));
    }

    #[test]
    fn occurrences_follow_the_count() {
        let mut o = Occurrences::default();
        let steps = [("e", 1, Some(1)), ("e", 1, None), ("e", 3, Some(3)), ("e", 2, None), ("f", 1, Some(1))];
        for (uid, count, want) in steps {
            assert_eq!(o.observe(uid, count), want, "{uid} {count}");
        }
    }
}
