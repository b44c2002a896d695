//! A self-contained HTML page that renders a Mermaid diagram in the browser.
//!
//! Mermaid itself is never bundled: the page imports its ES-module build from a URL,
//! by default the published one, so an offline user can point it at a local copy.

/// Mermaid's published ES-module build, used unless `--mermaid-src` says otherwise.
pub(crate) const DEFAULT_MERMAID_SRC: &str =
    "https://cdn.jsdelivr.net/npm/mermaid@11/dist/mermaid.esm.min.mjs";

/// The page's fixed script. The URL comes from a `<meta>` tag so nothing user-supplied is
/// ever spliced into JavaScript; a failed import is shown on the page, not just the console.
const SCRIPT: &str = r#"const src = document.querySelector('meta[name="mermaid-src"]').content;
const status = document.getElementById("status");
try {
  const { default: mermaid } = await import(src);
  mermaid.initialize({ startOnLoad: false, securityLevel: "strict" });
  await mermaid.run({ querySelector: "pre.mermaid" });
  status.remove();
} catch (err) {
  status.textContent = `Could not render the diagram with Mermaid from ${src}: ${err}. ` +
    "Use --mermaid-src to point at a reachable copy of mermaid.esm.min.mjs.";
}"#;

const STYLE: &str = "body { font-family: system-ui, sans-serif; margin: 2rem; }
pre.mermaid { background: #fff; }
#status { color: #a00; }";

/// Builds the page for `diagram`, loading Mermaid from `mermaid_src`.
pub(crate) fn page(title: &str, diagram: &str, mermaid_src: &str) -> String {
    let title = html_escape::encode_text(title);
    let src = html_escape::encode_double_quoted_attribute(mermaid_src);
    // Mermaid reads the element's text after entity decoding, so text escaping round-trips.
    let diagram = html_escape::encode_text(diagram);
    format!(
        "<!DOCTYPE html>
<html lang=\"en\">
<head>
<meta charset=\"utf-8\">
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">
<meta name=\"mermaid-src\" content=\"{src}\">
<title>{title}</title>
<style>
{STYLE}
</style>
</head>
<body>
<h1>{title}</h1>
<pre class=\"mermaid\">
{diagram}</pre>
<p id=\"status\">Rendering…</p>
<script type=\"module\">
{SCRIPT}
</script>
</body>
</html>
"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_diagram_title_and_source() {
        let html = page(
            "a<b",
            "graph LR\n    x -->|\"A&B<C>\"| y\n",
            "http://h/m.mjs?a=1&b=\"2\"",
        );
        assert!(html.contains("<title>a&lt;b</title>"));
        assert!(html.contains(
            "<pre class=\"mermaid\">\ngraph LR\n    x --&gt;|\"A&amp;B&lt;C&gt;\"| y\n</pre>"
        ));
        assert!(html.contains(
            "<meta name=\"mermaid-src\" content=\"http://h/m.mjs?a=1&amp;b=&quot;2&quot;\">"
        ));
    }

    #[test]
    fn script_is_fixed_text() {
        let a = page("t", "graph LR\n", DEFAULT_MERMAID_SRC);
        let b = page("t", "graph LR\n", "./mermaid.esm.min.mjs");
        let script = |s: &str| s.split("<script").nth(1).map(str::to_owned);
        assert_eq!(script(&a), script(&b));
        assert!(a.contains(&format!("content=\"{DEFAULT_MERMAID_SRC}\"")));
    }
}
