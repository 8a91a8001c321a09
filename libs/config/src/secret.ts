import { inspect } from 'node:util';

/**
 * Secret bytes that do not leak by accident: `String(secret)`, `JSON.stringify` (hence pino) and
 * `console.log`/`util.inspect` all print `[redacted]`. The bytes are only reachable through
 * `reveal()`, which hands out a copy so no caller can alter the original.
 */
export class Secret {
  readonly #bytes: Buffer;

  constructor(bytes: Uint8Array) {
    this.#bytes = Buffer.from(bytes);
    Object.freeze(this);
  }

  get length(): number {
    return this.#bytes.length;
  }

  reveal(): Buffer {
    return Buffer.from(this.#bytes);
  }

  toString(): string {
    return '[redacted]';
  }

  toJSON(): string {
    return '[redacted]';
  }

  [inspect.custom](): string {
    return `Secret([redacted], ${this.#bytes.length} bytes)`;
  }
}
