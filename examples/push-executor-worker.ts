// A push executor as a Cloudflare Worker: deploy it with the endpoint's secret
// (`wrangler secret put MERIDIAN_ENDPOINT_SECRET`), then point an endpoint at its URL:
//   PUT /v1/regions/{region}/endpoints/{name}  {"url":"https://executor.<you>.workers.dev/","capacity":32}
// The SDK's verifyWebhook takes a Request's headers as they are; nothing else of the SDK is bundled.
import { verifyWebhook, WebhookVerificationError } from "../src/sdk/webhook.ts";

export default {
  async fetch(request: Request, env: { MERIDIAN_ENDPOINT_SECRET: string }): Promise<Response> {
    if (request.method !== "POST") {
      return new Response("POST tasks here", { status: 405 });
    }
    try {
      // Verify against the raw body, before parsing it.
      const task = await verifyWebhook(env.MERIDIAN_ENDPOINT_SECRET, request.headers, await request.text());
      return Response.json({ type: task.type, payload: task.payload, attempt: task.attempt });
    } catch (error) {
      const status = error instanceof WebhookVerificationError ? 401 : 500;
      return new Response(String(error), { status });
    }
  },
};
