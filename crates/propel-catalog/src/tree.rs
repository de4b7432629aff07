//! The category tree, from feed categories (ids with parent links) or from Product API
//! category paths.
//!
//! Path categories are keyed by a synthetic id, [`CategoryTree::path_id`]: FNV-1a (64 bit)
//! of the normalized path (segments trimmed, empty ones dropped, joined by `/`), masked to
//! 53 bits so JavaScript clients keep it exact. It depends on the path alone, so the same
//! path gets the same id in every process and release; on the (astronomically rare) clash
//! with another path the next free id is taken, which then depends on insertion order.
//!
//! The tree is always a forest: a category whose parent is missing, itself, or part of a
//! parent cycle becomes a root when the tree is built, and the fix is listed in
//! [`CategoryTree::issues`]. Walks are bounded by the node count besides.

use crate::model::Category;
use crate::yml::MAX_ID;
use std::collections::{HashMap, HashSet};

#[derive(Debug, Clone, Default)]
struct Node {
    category: Category,
    children: Vec<i64>,
}

/// Something about the input the tree had to repair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeIssue {
    pub id: i64,
    pub reason: String,
}

#[derive(Debug, Clone, Default)]
pub struct CategoryTree {
    nodes: HashMap<i64, Node>,
    roots: Vec<i64>,
    issues: Vec<TreeIssue>,
}

impl CategoryTree {
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds the tree of feed categories; for a repeated id the later category wins.
    pub fn from_categories<I: IntoIterator<Item = Category>>(categories: I) -> Self {
        let mut tree = CategoryTree::new();
        let mut order = Vec::new();
        for c in categories {
            let id = c.id;
            let node = Node {
                category: c,
                children: Vec::new(),
            };
            if tree.nodes.insert(id, node).is_some() {
                tree.issue(
                    id,
                    format!("category {id} is listed twice; the later one is kept"),
                );
            } else {
                order.push(id);
            }
        }
        for &id in &order {
            let parent = tree.nodes.get(&id).and_then(|n| n.category.parent_id);
            match parent {
                Some(p) if p == id || !tree.nodes.contains_key(&p) => {
                    tree.issue(
                        id,
                        format!("category {id}: parent {p} not found; made a root"),
                    );
                    tree.set_parent(id, None);
                }
                _ => {}
            }
        }
        tree.break_cycles(&order);
        for &id in &order {
            match tree.parent(id) {
                Some(p) => {
                    if let Some(n) = tree.nodes.get_mut(&p) {
                        n.children.push(id);
                    }
                }
                None => tree.roots.push(id),
            }
        }
        tree
    }

    /// Builds the tree of Product API category paths; every prefix is a category too.
    pub fn from_paths<I, S>(paths: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut tree = CategoryTree::new();
        for p in paths {
            tree.insert_path(p.as_ref());
        }
        tree
    }

    /// Adds a path and all its prefixes; returns the id of its last level (`None` for an
    /// empty path).
    pub fn insert_path(&mut self, path: &str) -> Option<i64> {
        let mut parent: Option<i64> = None;
        let mut prefix = String::new();
        for segment in path.split('/').map(str::trim).filter(|s| !s.is_empty()) {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(segment);
            let id = match self.child_named(parent, segment) {
                Some(id) => id,
                None => {
                    let id = self.free_id(fnv53(&prefix));
                    let category = Category {
                        id,
                        parent_id: parent,
                        name: segment.to_owned(),
                    };
                    self.nodes.insert(
                        id,
                        Node {
                            category,
                            children: Vec::new(),
                        },
                    );
                    match parent.and_then(|p| self.nodes.get_mut(&p)) {
                        Some(n) => n.children.push(id),
                        None => self.roots.push(id),
                    }
                    id
                }
            };
            parent = Some(id);
        }
        parent
    }

    /// The synthetic id a path gets in a path tree, absent a clash (see the module docs).
    pub fn path_id(path: &str) -> Option<i64> {
        let norm = normalize_path(path)?;
        Some(fnv53(&norm))
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn contains(&self, id: i64) -> bool {
        self.nodes.contains_key(&id)
    }

    pub fn get(&self, id: i64) -> Option<&Category> {
        self.nodes.get(&id).map(|n| &n.category)
    }

    pub fn parent(&self, id: i64) -> Option<i64> {
        self.nodes.get(&id).and_then(|n| n.category.parent_id)
    }

    pub fn children(&self, id: i64) -> &[i64] {
        self.nodes.get(&id).map_or(&[], |n| n.children.as_slice())
    }

    pub fn roots(&self) -> &[i64] {
        &self.roots
    }

    /// What was repaired while building: missing parents, cycles, repeated ids.
    pub fn issues(&self) -> &[TreeIssue] {
        &self.issues
    }

    /// The category and all its descendants (the category first); empty if unknown.
    pub fn subtree(&self, id: i64) -> Vec<i64> {
        if !self.contains(id) {
            return Vec::new();
        }
        let mut out = Vec::new();
        let mut stack = vec![id];
        while let Some(c) = stack.pop() {
            if out.len() >= self.nodes.len() {
                break; // only a corrupted tree could get here
            }
            out.push(c);
            stack.extend(self.children(c).iter().rev());
        }
        out
    }

    /// The category's ancestors, nearest first.
    pub fn ancestors(&self, id: i64) -> Vec<i64> {
        let mut out = Vec::new();
        let mut cur = self.parent(id);
        while let Some(p) = cur {
            if out.len() >= self.nodes.len() {
                break;
            }
            out.push(p);
            cur = self.parent(p);
        }
        out
    }

    /// Names from the root down, joined by `/`.
    pub fn path(&self, id: i64) -> Option<String> {
        let own = self.get(id)?;
        let mut names: Vec<&str> = self
            .ancestors(id)
            .iter()
            .filter_map(|a| self.get(*a).map(|c| c.name.as_str()))
            .collect();
        names.reverse();
        names.push(&own.name);
        Some(names.join("/"))
    }

    /// The category at a `/`-joined path of names, in either kind of tree.
    pub fn find_path(&self, path: &str) -> Option<i64> {
        let mut cur = None;
        for segment in path.split('/').map(str::trim).filter(|s| !s.is_empty()) {
            cur = Some(self.child_named(cur, segment)?);
        }
        cur
    }

    fn child_named(&self, parent: Option<i64>, name: &str) -> Option<i64> {
        let ids = match parent {
            Some(p) => self.children(p),
            None => &self.roots,
        };
        ids.iter()
            .copied()
            .find(|c| self.get(*c).is_some_and(|c| c.name.trim() == name))
    }

    fn free_id(&self, mut id: i64) -> i64 {
        while self.nodes.contains_key(&id) {
            id = if id >= MAX_ID { 0 } else { id + 1 };
        }
        id
    }

    fn set_parent(&mut self, id: i64, parent: Option<i64>) {
        if let Some(n) = self.nodes.get_mut(&id) {
            n.category.parent_id = parent;
        }
    }

    fn issue(&mut self, id: i64, reason: String) {
        self.issues.push(TreeIssue { id, reason });
    }

    /// Walks up from every node; a walk that meets itself found a cycle, which is cut
    /// above the node where the walk started going round. Linear: each node is settled once.
    fn break_cycles(&mut self, order: &[i64]) {
        let mut settled: HashSet<i64> = HashSet::with_capacity(order.len());
        for &start in order {
            let mut walk = HashSet::new();
            let mut cur = Some(start);
            while let Some(c) = cur {
                if settled.contains(&c) {
                    break;
                }
                if !walk.insert(c) {
                    self.issue(c, format!("category {c} is in a parent cycle; made a root"));
                    self.set_parent(c, None);
                    break;
                }
                cur = self.parent(c);
            }
            settled.extend(walk);
        }
    }
}

fn normalize_path(path: &str) -> Option<String> {
    let segs: Vec<&str> = path
        .split('/')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    (!segs.is_empty()).then(|| segs.join("/"))
}

fn fnv53(s: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h & MAX_ID as u64) as i64
}

#[cfg(test)]
#[path = "tree_tests.rs"]
mod tests;
