import { createApp } from "./app";

export { Coordinator } from "../durable-objects/coordinator";

export default createApp();
