/** Where an agent's messages go. */
export interface AgentLogger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** The logger to use: the given one, a silent one for `false`, else the console with a prefix. */
export function makeLogger(logger: AgentLogger | false | undefined, prefix: () => string): AgentLogger {
  if (logger === false) {
    return { info() {}, warn() {}, error() {} };
  }
  if (logger) {
    return logger;
  }
  return {
    info: (m) => console.info(`${prefix()} ${m}`),
    warn: (m) => console.warn(`${prefix()} ${m}`),
    error: (m) => console.error(`${prefix()} ${m}`),
  };
}
