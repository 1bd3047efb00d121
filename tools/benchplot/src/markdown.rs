//! Markdown tables and the number formats the generated figures share.

/// A Markdown table: a header, then rows; the first `left` columns are left-aligned
/// (names), the others right-aligned (numbers).
pub(crate) fn table(head: &[&str], left: usize, rows: &[Vec<String>]) -> String {
    let mut out = format!("| {} |\n|", head.join(" | "));
    for i in 0..head.len() {
        out += if i < left { "---|" } else { "---:|" };
    }
    out.push('\n');
    for row in rows {
        out += &format!("| {} |\n", row.join(" | "));
    }
    out
}

/// The median as Python's `statistics.median` takes it: the mean of the two middle
/// values of an even count. `None` for no values.
pub(crate) fn median(values: impl IntoIterator<Item = f64>) -> Option<f64> {
    let mut v: Vec<f64> = values.into_iter().collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// An integer with thousands separators: `3,145,746,152`.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A ratio as the tables write it: `276×`.
pub(crate) fn times(ratio: f64) -> String {
    format!("{ratio:.0}×")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_are_pythons() {
        assert_eq!(median([3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median([4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median([]), None);
    }

    #[test]
    fn numbers_format_as_the_tables_write_them() {
        assert_eq!(thousands(3_145_746_152), "3,145,746,152");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(times(276.3), "276×");
        let t = table(&["a", "b"], 1, &[vec!["x".into(), "1".into()]]);
        assert_eq!(t, "| a | b |\n|---|---:|\n| x | 1 |\n");
    }
}
