import type { LoggerService } from '@nestjs/common';
import type { LogLevel } from '@vaultline/config';
import pino, { type DestinationStream, type Logger } from 'pino';
import { currentRequestId } from './request-context';

/**
 * Paths pino blanks before a line is written. Belt and braces: the code never logs request bodies
 * or headers on purpose, but an error object or a debug line might carry one.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'headers.authorization',
  'authorization',
  'req.headers.cookie',
  'headers.cookie',
  'cookie',
  'headers["set-cookie"]',
  'token',
  '*.token',
  'password',
  '*.password',
  '*.passwordConfirmation',
  '*.oldPassword',
  '*.newPassword',
  '*.newPasswordConfirmation',
  'secretKey',
  '*.secretKey',
  '*.s3SecretEnc',
  'body',
];

export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: 'api' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    // Every line written while a request is handled carries its id (request-context.ts), however
    // deep in the services it is logged.
    mixin: (): { reqId?: string } => {
      const reqId = currentRequestId();
      return reqId === undefined ? {} : { reqId };
    },
  };
  return destination ? pino(options, destination) : pino(options);
}

/** Routes Nest's own messages (startup, route mapping) through pino, so every line is JSON. */
export class PinoNestLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}

  log(message: unknown, context?: string): void {
    this.logger.info({ context }, String(message));
  }
  error(message: unknown, trace?: string, context?: string): void {
    this.logger.error({ context, trace }, String(message));
  }
  warn(message: unknown, context?: string): void {
    this.logger.warn({ context }, String(message));
  }
  debug(message: unknown, context?: string): void {
    this.logger.debug({ context }, String(message));
  }
  verbose(message: unknown, context?: string): void {
    this.logger.trace({ context }, String(message));
  }
}
