type Doc = {
  info: { title: string; version: string; description?: string };
  paths: Record<
    string,
    Record<string, { summary?: string; tags?: string[]; responses?: Record<string, unknown> }>
  >;
};

function escapeHtml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/**
 * `/docs`: the OpenAPI document rendered as one self-contained page (no CDN: Meridian must work
 * offline), listing each route with its summary and statuses and linking the full JSON.
 */
export function renderDocsPage(doc: Doc): string {
  const rows = Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => {
      const statuses = Object.keys(op.responses ?? {}).join(" ");
      return `<tr><td class="m ${method}">${method.toUpperCase()}</td><td><code>${escapeHtml(path)}</code></td><td>${escapeHtml(op.summary ?? "")}</td><td>${statuses}</td></tr>`;
    }),
  );
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(doc.info.title)} API</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;margin:2rem auto;max-width:1100px;padding:0 1rem;color:#1b1f24}
table{border-collapse:collapse;width:100%}td{border-bottom:1px solid #e3e6ea;padding:.35rem .5rem;vertical-align:top}
.m{font-weight:600;width:4.5rem}.get{color:#1a7f37}.post{color:#0969da}.put{color:#9a6700}.delete{color:#cf222e}
code{font-size:14px}
</style></head><body>
<h1>${escapeHtml(doc.info.title)} <small>${escapeHtml(doc.info.version)}</small></h1>
<p>${escapeHtml(doc.info.description ?? "")}</p>
<p>The machine-readable contract: <a href="/openapi.json">/openapi.json</a>. Every <code>/v1</code> route needs <code>Authorization: Bearer &lt;token&gt;</code>.</p>
<table><thead><tr><td></td><td>path</td><td>what it does</td><td>statuses</td></tr></thead><tbody>
${rows.join("\n")}
</tbody></table></body></html>`;
}
