// A push executor: Meridian POSTs each task of a region to it (PUT /v1/regions/{region}/endpoints/{name}),
// it checks the signature with the endpoint's secret, runs the task, and answers the result.
//   MERIDIAN_ENDPOINT_SECRET=whsec_... PORT=8790 node examples/push-executor.ts
// 2xx: succeeded, the JSON body is the result · 409/410/422: failed for good · anything else: retried.
import { createServer } from "node:http";
import { verifyWebhook, WebhookVerificationError } from "../src/sdk/index.ts";

const secret = process.env.MERIDIAN_ENDPOINT_SECRET ?? "";
const port = Number(process.env.PORT ?? 8790);

const server = createServer(async (req, res) => {
  const chunks: Buffer[] = [];
  for await (const chunk of req) {
    chunks.push(chunk as Buffer);
  }
  try {
    const task = await verifyWebhook(secret, req.headers, Buffer.concat(chunks));
    if (task.type === "refuse") {
      res.writeHead(422, { "content-type": "application/json" }).end('{"error":"this executor refuses it"}');
      return;
    }
    const result = {
      node: `push-executor:${port}`,
      type: task.type,
      payload: task.payload,
      attempt: task.attempt,
    };
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(result));
  } catch (error) {
    // Not from Meridian (or the wrong secret): 401, which Meridian counts as a failed delivery.
    const status = error instanceof WebhookVerificationError ? 401 : 500;
    res.writeHead(status).end(String(error));
  }
});

server.listen(port, "127.0.0.1", () => console.log(`push executor listening on http://127.0.0.1:${port}/`));
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => server.close(() => process.exit(0)));
}
