import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

/** The part of s3rver 3's API used here (the package ships no type declarations). */
interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}
type S3rverConstructor = new (options: {
  port: number;
  address: string;
  silent: boolean;
  directory: string;
  configureBuckets?: { name: string; configs: string[] }[];
}) => S3rverInstance;

const requireCjs = createRequire(__filename);

export interface S3TestServer {
  /** `http://127.0.0.1:<port>`. */
  endpoint: string;
  accessKey: string;
  secretKey: string;
  /** Ready-made `VAULTLINE_S3_*` variables for `openBackend(location, env)`. */
  env: Record<string, string>;
  /** Stop the server and delete its data directory. */
  stop(): Promise<void>;
}

export interface S3TestServerOptions {
  /** Buckets to create before the server starts accepting requests. */
  buckets?: string[];
}

/**
 * Start an in-process fake S3 server (s3rver) on a free loopback port, backed by a fresh temp
 * directory. Limits: no ListMultipartUploads, so keep objects well under the 64 MiB part size;
 * and its ListObjectsV2 continuation tokens use DES, which OpenSSL 3 (Node 17+) lacks, so a listing
 * that needs a second page (over 1000 keys under one prefix) fails with HTTP 500. It checks the
 * access key but not V4 signatures, so a wrong secret key goes unnoticed.
 */
export async function startS3Server(options: S3TestServerOptions = {}): Promise<S3TestServer> {
  const S3rver = requireCjs('s3rver') as S3rverConstructor;
  const directory = await mkdtemp(path.join(tmpdir(), 'vaultline-s3rver-'));
  const server = new S3rver({
    port: 0,
    address: '127.0.0.1',
    silent: true,
    directory,
    configureBuckets: (options.buckets ?? []).map((name) => ({ name, configs: [] })),
  });
  let address: AddressInfo;
  try {
    // run() resolves with the listening socket's address, which carries the port picked for port 0.
    address = await server.run();
  } catch (err) {
    await rm(directory, { recursive: true, force: true });
    throw err;
  }
  const endpoint = `http://127.0.0.1:${address.port}`;
  // s3rver's fixed credentials.
  const accessKey = 'S3RVER';
  const secretKey = 'S3RVER';
  let stopped = false;
  return {
    endpoint,
    accessKey,
    secretKey,
    env: {
      VAULTLINE_S3_ENDPOINT: endpoint,
      VAULTLINE_S3_ACCESS_KEY: accessKey,
      VAULTLINE_S3_SECRET_KEY: secretKey,
      VAULTLINE_S3_REGION: 'us-east-1',
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      try {
        await server.close();
      } finally {
        await rm(directory, { recursive: true, force: true });
      }
    },
  };
}
