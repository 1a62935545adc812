/** The logger the kit writes to: pino's call shape, so a pino child logger fits. */
export interface KitLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}
