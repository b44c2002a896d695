//! Aligned text tables: columns padded to their widest cell, two spaces apart, no
//! trailing blanks.

/// Renders `header` and `rows` (each as long as `header`; missing cells are blank).
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let cell = |row: &[String], c: usize| row.get(c).map_or("", String::as_str).to_owned();
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    let all: Vec<&[String]> = std::iter::once(header.as_slice())
        .chain(rows.iter().map(Vec::as_slice))
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            all.iter()
                .map(|r| cell(r, c).chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    all.iter()
        .map(|r| {
            widths
                .iter()
                .enumerate()
                .map(|(c, w)| format!("{:<w$}", cell(r, c)))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_owned()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up() {
        let rows = vec![
            vec![
                "billing".to_owned(),
                "request".to_owned(),
                "Billing.Charge".to_owned(),
            ],
            vec![
                "notifications-eu".to_owned(),
                "consumer".to_owned(),
                String::new(),
            ],
        ];
        assert_eq!(
            table(&["SERVICE", "KIND", "KEYS"], &rows),
            "SERVICE           KIND      KEYS\n\
             billing           request   Billing.Charge\n\
             notifications-eu  consumer"
        );
    }
}
