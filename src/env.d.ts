// Secrets are not in wrangler.toml, so `wrangler types` cannot see them: declared here.
declare namespace Cloudflare {
  interface Env {
    /** Bootstrap admin bearer token (a secret; locally in `.dev.vars`). */
    ADMIN_TOKEN: string;
    /** Optional: how long a closed node channel may reconnect and resume (default: HEARTBEAT_INTERVAL_MS). */
    CHANNEL_GRACE_MS?: string;
  }
}
interface Env {
  ADMIN_TOKEN: string;
  CHANNEL_GRACE_MS?: string;
}
