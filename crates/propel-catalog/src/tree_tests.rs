//! Category tree tests.

use super::*;

fn cat(id: i64, parent: Option<i64>, name: &str) -> Category {
    Category {
        id,
        parent_id: parent,
        name: name.into(),
    }
}

fn sample() -> CategoryTree {
    CategoryTree::from_categories(vec![
        cat(1, None, "Home"),
        cat(10, Some(1), "Kitchen"),
        cat(11, Some(10), "Forks"),
        cat(12, Some(10), "Knives"),
        cat(2, None, "Garden"),
    ])
}

#[test]
fn subtree_path_children_roots() {
    let t = sample();
    assert_eq!(t.roots(), &[1, 2]);
    assert_eq!(t.children(10), &[11, 12]);
    assert_eq!(t.subtree(1), vec![1, 10, 11, 12]);
    assert_eq!(t.subtree(2), vec![2]);
    assert!(t.subtree(99).is_empty());
    assert_eq!(t.path(11).as_deref(), Some("Home/Kitchen/Forks"));
    assert_eq!(t.ancestors(11), vec![10, 1]);
    assert_eq!(t.find_path("Home / Kitchen/Knives"), Some(12));
    assert!(t.issues().is_empty());
}

#[test]
fn cycles_and_missing_parents_become_roots() {
    let t = CategoryTree::from_categories(vec![
        cat(1, Some(3), "a"),
        cat(2, Some(1), "b"),
        cat(3, Some(2), "c"),
        cat(4, Some(4), "self"),
        cat(5, Some(77), "orphan"),
    ]);
    assert_eq!(t.issues().len(), 3, "{:?}", t.issues());
    assert_eq!(t.roots().len(), 3);
    for id in 1..=5 {
        assert!(t.path(id).is_some());
        assert!(t.subtree(id).len() <= 3);
    }
    let total: usize = t.roots().iter().map(|r| t.subtree(*r).len()).sum();
    assert_eq!(total, 5);
}

#[test]
fn paths_make_every_prefix_with_stable_ids() {
    let t = CategoryTree::from_paths(["Home/Kitchen/Forks", "Home/Kitchen/Knives", "Garden"]);
    assert_eq!(t.len(), 5);
    let forks = t.find_path("Home/Kitchen/Forks").unwrap_or(-1);
    assert_eq!(Some(forks), CategoryTree::path_id(" Home/ Kitchen /Forks/"));
    let kitchen = CategoryTree::path_id("Home/Kitchen").unwrap_or(-1);
    assert_eq!(t.parent(forks), Some(kitchen));
    assert_eq!(t.subtree(kitchen).len(), 3);
    assert_eq!(t.path(forks).as_deref(), Some("Home/Kitchen/Forks"));
    assert!((0..=MAX_ID).contains(&forks));
    let mut again = CategoryTree::new();
    assert_eq!(again.insert_path("Home/Kitchen/Forks"), Some(forks));
    assert_eq!(again.insert_path(" / "), None);
}
