import { DurableObject } from "cloudflare:workers";
export class Coordinator extends DurableObject<Env> {
  async ping(): Promise<number> {
    this.ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS t(x)");
    return 1;
  }
}
