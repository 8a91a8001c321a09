/**
 * The API's one JSON body parser. Express's parser decodes bytes leniently (invalid UTF-8 becomes
 * U+FFFD and would be stored as such) and its messages describe the input; this one reads the raw
 * bytes (body-parser's `raw`, for its limit, inflation and 413) and then:
 *
 * - decodes strictly: text that is not UTF-8 is a 400 naming the field whose string holds the bad
 *   bytes (or the byte offset when they are outside any string);
 * - refuses lone surrogates (`"\udfff"`), which no UTF-8 text can hold either;
 * - answers a body that is not JSON with one fixed message; the parser's detail goes to the log.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { ApiError } from './api-error';

export const JSON_BODY_LIMIT = '100kb';
/** The media types parsed as JSON (what express.json takes by default, plus `+json` suffixes). */
export const JSON_TYPES = ['application/json', 'application/*+json'];

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
const NOT_JSON = 'request body is not valid JSON';
const NOT_UTF8 = 'must be valid UTF-8 text';

/**
 * Each maximal invalid sequence of `bytes` (WHATWG's "maximal subpart"), as [start, end) offsets.
 * Second-byte ranges exclude overlong forms, surrogates (ED A0..BF) and code points above U+10FFFF.
 */
export function invalidUtf8Ranges(bytes: Uint8Array): [number, number][] {
  const out: [number, number][] = [];
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    if (b < 0x80) {
      i++;
      continue;
    }
    let need = 0;
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      if (b === 0xe0) lo = 0xa0;
      if (b === 0xed) hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      if (b === 0xf0) lo = 0x90;
      if (b === 0xf4) hi = 0x8f;
    }
    let k = 1;
    if (need > 0) {
      for (; k <= need; k++) {
        const c = bytes[i + k];
        const [min, max] = k === 1 ? [lo, hi] : [0x80, 0xbf];
        if (c === undefined || c < min || c > max) break;
      }
      if (k > need) {
        i += k;
        continue;
      }
    }
    out.push([i, i + k]);
    i += k;
  }
  return out;
}

/**
 * The bytes as text, each invalid sequence replaced by a lone surrogate: a character that valid
 * UTF-8 cannot produce, so the string that holds it after JSON.parse is the field to name.
 */
function markInvalid(bytes: Uint8Array, ranges: [number, number][]): string {
  let text = '';
  let at = 0;
  for (const [start, end] of ranges) {
    text += strictUtf8.decode(bytes.subarray(at, start)) + '\udfff';
    at = end;
  }
  return text + strictUtf8.decode(bytes.subarray(at));
}

/** The path (`retention.keepTags[0]`) of the first key or string value that is not well-formed text. */
export function illFormedPath(value: unknown, path = ''): string | undefined {
  if (typeof value === 'string') return value.isWellFormed() ? undefined : path;
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) {
      const found = illFormedPath(v, `${path}[${i}]`);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) {
      const at = path ? `${path}.${k}` : k;
      if (!k.isWellFormed()) return path ? `${path}.${k.toWellFormed()}` : k.toWellFormed();
      const found = illFormedPath(v, at);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

/** Parses a JSON body's bytes; throws the ApiError (400) the client gets. */
export function parseJsonBody(bytes: Uint8Array, logger?: Logger): unknown {
  if (bytes.length === 0) return {}; // what express.json gives for an empty body
  let text: string;
  let ranges: [number, number][] = [];
  try {
    text = strictUtf8.decode(bytes);
  } catch {
    ranges = invalidUtf8Ranges(bytes);
    text = markInvalid(bytes, ranges);
  }
  let value: unknown;
  try {
    // Only objects and arrays, like express.json's strict mode: no API body is a bare value.
    if (!/^[\s]*[[{]/.test(text)) throw new SyntaxError('not an object or array');
    value = JSON.parse(text);
  } catch (err) {
    const offset = ranges[0]?.[0];
    if (offset !== undefined) {
      // Bad bytes outside any string: nothing to name but where they are.
      const message = `byte ${offset} is not valid UTF-8`;
      throw new ApiError('VALIDATION_FAILED', `request body: ${message}`, [{ path: '', message }]);
    }
    // Only where it broke: V8's parse messages quote the body around the error, and bodies (with
    // their passwords) are never logged.
    const position = err instanceof Error ? /at position (\d+)/.exec(err.message)?.[1] : undefined;
    logger?.info(
      { detail: position === undefined ? 'invalid JSON' : `invalid JSON at byte ${position}` },
      NOT_JSON,
    );
    throw new ApiError('VALIDATION_FAILED', NOT_JSON);
  }
  const path = illFormedPath(value);
  if (path !== undefined) {
    throw new ApiError('VALIDATION_FAILED', `request body: ${path || '(body)'}: ${NOT_UTF8}`, [
      { path, message: NOT_UTF8 },
    ]);
  }
  return value;
}

/**
 * Express middleware after body-parser's `raw` (JSON_TYPES): replaces the Buffer by the parsed
 * body, or passes the 400 to Nest's error handling (the one filter).
 */
export function jsonBody(logger: Logger) {
  return (
    req: IncomingMessage & { body?: unknown },
    _res: ServerResponse,
    next: (err?: unknown) => void,
  ): void => {
    if (!Buffer.isBuffer(req.body)) return next();
    try {
      req.body = parseJsonBody(req.body, logger);
      next();
    } catch (err) {
      next(err);
    }
  };
}
