//! The operator's recommendation settings per partner: business rules of
//! `relatedWithRules` and accessory categories of `accessories`.
//!
//! `PUT /admin/partners/{partnerId}/recommendation-rules`, `GET` the same path:
//! ```json
//! {"relatedWithRules": [{"category": 10, "recommendFrom": [20, "Garden/Tools"]}],
//!  "promotedCategories": [30],
//!  "accessories": [{"category": "Home/Phones", "accessoryCategories": ["Home/Cases"]}]}
//! ```
//! A category is a feed id (integer) or a Product API path (string); paths are
//! resolved against the partner's category tree when a request is answered.

use propel_catalog::CategoryTree;
use propel_model::ApiError;
use propel_recs::Rules;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CategoryRef {
    Id(i64),
    Path(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetRule {
    pub category: CategoryRef,
    pub recommend_from: Vec<CategoryRef>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessoryRule {
    pub category: CategoryRef,
    pub accessory_categories: Vec<CategoryRef>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RecommendationRules {
    pub related_with_rules: Vec<TargetRule>,
    pub promoted_categories: Vec<CategoryRef>,
    pub accessories: Vec<AccessoryRule>,
}

const MAX_RULES: usize = 1000;

fn check_ref(r: &CategoryRef, field: &str) -> Result<(), ApiError> {
    match r {
        CategoryRef::Id(id) if *id >= 0 => Ok(()),
        CategoryRef::Path(p)
            if !p.trim().is_empty() && p.split('/').all(|l| !l.trim().is_empty()) =>
        {
            Ok(())
        }
        _ => Err(ApiError::invalid(
            field,
            "must be a category id (non-negative integer) or a category path ('A/B/C')",
        )),
    }
}

impl RecommendationRules {
    /// Parses and checks an operator's body; nothing is applied when it fails.
    pub fn parse(body: &serde_json::Value) -> Result<RecommendationRules, ApiError> {
        let rules: RecommendationRules = serde_json::from_value(body.clone()).map_err(|e| {
            ApiError::invalid(
                "body",
                format!("must be {{relatedWithRules, promotedCategories, accessories}}: {e}"),
            )
        })?;
        if rules.related_with_rules.len() > MAX_RULES
            || rules.accessories.len() > MAX_RULES
            || rules.promoted_categories.len() > MAX_RULES
        {
            return Err(ApiError::invalid(
                "body",
                format!("at most {MAX_RULES} rules of each kind"),
            ));
        }
        for (i, r) in rules.related_with_rules.iter().enumerate() {
            check_ref(&r.category, &format!("relatedWithRules[{i}].category"))?;
            if r.recommend_from.is_empty() {
                return Err(ApiError::invalid(
                    format!("relatedWithRules[{i}].recommendFrom"),
                    "must name at least one category",
                ));
            }
            for c in &r.recommend_from {
                check_ref(c, &format!("relatedWithRules[{i}].recommendFrom"))?;
            }
        }
        for c in &rules.promoted_categories {
            check_ref(c, "promotedCategories")?;
        }
        for (i, r) in rules.accessories.iter().enumerate() {
            check_ref(&r.category, &format!("accessories[{i}].category"))?;
            if r.accessory_categories.is_empty() {
                return Err(ApiError::invalid(
                    format!("accessories[{i}].accessoryCategories"),
                    "must name at least one category",
                ));
            }
            for c in &r.accessory_categories {
                check_ref(c, &format!("accessories[{i}].accessoryCategories"))?;
            }
        }
        Ok(rules)
    }

    /// The engine's rules, with paths looked up in the partner's tree (unknown ones dropped).
    pub fn resolve(&self, tree: &CategoryTree) -> Rules {
        let id = |r: &CategoryRef| match r {
            CategoryRef::Id(id) => Some(*id),
            CategoryRef::Path(p) => tree.find_path(p),
        };
        let map = |pairs: Vec<(&CategoryRef, &Vec<CategoryRef>)>| {
            let mut out: HashMap<i64, Vec<i64>> = HashMap::new();
            for (from, to) in pairs {
                if let Some(from) = id(from) {
                    out.entry(from)
                        .or_default()
                        .extend(to.iter().filter_map(id));
                }
            }
            out
        };
        Rules {
            targets: map(self
                .related_with_rules
                .iter()
                .map(|r| (&r.category, &r.recommend_from))
                .collect()),
            promoted: self.promoted_categories.iter().filter_map(id).collect(),
            accessories: map(self
                .accessories
                .iter()
                .map(|r| (&r.category, &r.accessory_categories))
                .collect()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_ids_and_paths_and_refuses_bad_ones() {
        let rules = RecommendationRules::parse(&json!({
            "relatedWithRules": [{"category": 10, "recommendFrom": [20, "Garden/Tools"]}],
            "promotedCategories": [30],
            "accessories": [{"category": "Home", "accessoryCategories": [7]}]
        }))
        .unwrap();
        let tree = CategoryTree::from_paths(["Garden/Tools", "Home"]);
        let resolved = rules.resolve(&tree);
        assert_eq!(resolved.targets[&10].len(), 2);
        assert_eq!(resolved.promoted, vec![30]);
        assert_eq!(resolved.accessories.len(), 1);
        let err = RecommendationRules::parse(
            &json!({"relatedWithRules": [{"category": 1, "recommendFrom": []}]}),
        )
        .unwrap_err();
        assert_eq!(
            err.field.as_deref(),
            Some("relatedWithRules[0].recommendFrom")
        );
        let err = RecommendationRules::parse(
            &json!({"accessories": [{"category": "a//b", "accessoryCategories": [1]}]}),
        )
        .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("accessories[0].category"));
        assert!(RecommendationRules::parse(&json!({"promotedCategories": "x"})).is_err());
    }
}
