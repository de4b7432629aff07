//! The offline evaluation on the real RetailRocket sample (small enough for a
//! debug build): our session-aware algorithm must beat both baselines.

use std::path::PathBuf;

use propel_recs::eval::{evaluate, read_rows, Method};
use propel_recs::Config;

#[test]
fn personal_beats_the_baselines_on_real_data() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/behaviour/retailrocket-sessions-sample.csv");
    let rows = match read_rows(&path) {
        Ok(r) => r,
        Err(e) => panic!("the shared dataset is needed: {e}"),
    };
    let methods = [Method::Popularity, Method::Cooccurrence, Method::Personal];
    let report = evaluate(&rows, None, &methods, &Config::default());
    assert!(report.predictions > 2000);
    let get = |m: Method| {
        report
            .results
            .iter()
            .find(|r| r.0 == m)
            .map(|r| r.1)
            .unwrap_or_default()
    };
    let (pop, cooc, ours) = (
        get(Method::Popularity),
        get(Method::Cooccurrence),
        get(Method::Personal),
    );
    for base in [pop, cooc] {
        assert!(ours.hr10 > base.hr10 * 1.5, "{ours:?} vs {base:?}");
        assert!(ours.ndcg10 > base.ndcg10 * 1.5, "{ours:?} vs {base:?}");
    }
}
