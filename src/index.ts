export { Coordinator } from "../durable-objects/coordinator";
export default {
  fetch() {
    return new Response("ok");
  },
};
