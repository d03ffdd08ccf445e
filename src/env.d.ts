// Secrets are not in wrangler.toml, so `wrangler types` cannot see them: declared here.
declare namespace Cloudflare {
  interface Env {
    /** Bootstrap admin bearer token (a secret; locally in `.dev.vars`). */
    ADMIN_TOKEN: string;
  }
}
interface Env {
  ADMIN_TOKEN: string;
}
