import type { AgentOptions } from 'node:http';
import { Inject, Injectable } from '@nestjs/common';
import { type ApiConfig, OutboundDenied, type OutboundPolicy, outboundPolicyOf } from '@vaultline/config';
import { Catalog, isCatalogError, type Target } from '@vaultline/catalog';
import {
  formatSealed,
  openWithServerKey,
  recordIds,
  parseSealed,
  sealWithServerKey,
  type ServerKeys,
} from '@vaultline/secrets';
import { FsBackend, S3Backend } from '@vaultline/storage';
import type { Logger } from 'pino';
import { ApiError, invalidField, notFound } from '../common/api-error';
import { API_CONFIG, LOGGER, SERVER_KEYS } from '../common/tokens';
import { UUID_RE } from '../common/zod-body.pipe';
import { type CreateTarget, S3_FIELDS, type UpdateTarget } from './target.schemas';
import { fileSystemType, type ProbeResult, probeTarget } from './target-probe';
import type { TargetView } from '@vaultline/contracts';
export type { TargetView };

/** Field by field on purpose (no spread): a column added later is not exposed by accident. */
function view(t: Target): TargetView {
  return {
    id: t.id,
    name: t.name,
    kind: t.kind,
    path: t.path,
    s3Endpoint: t.s3Endpoint,
    s3Bucket: t.s3Bucket,
    s3Prefix: t.s3Prefix,
    s3Region: t.s3Region,
    s3AccessKey: t.s3AccessKey,
    hasSecret: t.s3SecretEnc !== null,
    createdAt: t.createdAt.toISOString(),
    updatedAt: t.updatedAt.toISOString(),
  };
}

const PURPOSE = 'target-credentials';
/** A probe must answer while the user waits: two tries, ten seconds each, not the backup's patience. */
const PROBE_S3_RETRY = { attempts: 2, baseDelayMs: 200, maxDelayMs: 1000 };
const PROBE_S3_TIMEOUT_MS = 10_000;
const UNREACHABLE: ProbeResult = Object.freeze({
  reachable: false,
  writable: false,
  freeBytes: null,
  error: { code: 'UNREACHABLE', message: 'target unreachable' },
});

@Injectable()
export class TargetsService {
  constructor(
    private readonly catalog: Catalog,
    @Inject(SERVER_KEYS) private readonly keys: ServerKeys,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(API_CONFIG) config: ApiConfig,
  ) {
    this.outbound = outboundPolicyOf(config, logger);
  }

  private readonly outbound: OutboundPolicy;

  /**
   * A 400 naming `endpoint` when it is, or resolves to, an address the outbound policy denies. A
   * name that does not resolve (yet) is accepted: its future address cannot be judged now, and every
   * connection is checked again when it is made (see docs/configuration.md, "Outbound requests").
   */
  private async checkEndpoint(endpoint: string | undefined): Promise<void> {
    if (endpoint === undefined) return;
    try {
      await this.outbound.check(new URL(endpoint).hostname);
    } catch (err) {
      if (err instanceof OutboundDenied)
        throw invalidField('endpoint', 'is a denied address (outbound policy, see docs/configuration.md)');
    }
  }

  async create(input: CreateTarget): Promise<TargetView> {
    if (input.kind === 's3') await this.checkEndpoint(input.endpoint);
    try {
      if (input.kind !== 's3') {
        return view(
          await this.catalog.targets.create({ name: input.name, kind: input.kind, path: input.path }),
        );
      }
      // The seal is bound to the row id, which the client generates on insert: the catalog
      // inserts, then seals, in one transaction so no row ever exists without its secret.
      const row = await this.catalog.targets.createS3(
        {
          name: input.name,
          s3Endpoint: input.endpoint,
          s3Bucket: input.bucket,
          s3Prefix: input.prefix,
          s3Region: input.region,
          s3AccessKey: input.accessKey,
        },
        (id) => this.seal(id, input.secretKey),
      );
      return view(row);
    } catch (err) {
      throw translate(err, input.name);
    }
  }

  async list(): Promise<TargetView[]> {
    const rows = await this.catalog.targets.list();
    return rows.map(view);
  }

  async get(id: string): Promise<TargetView> {
    return view(await this.find(id));
  }

  async update(id: string, input: UpdateTarget): Promise<TargetView> {
    const current = await this.find(id);
    if (current.kind === 's3') {
      if (input.path !== undefined)
        throw invalidField('path', 'is only allowed on local and network targets');
    } else {
      const wrong = S3_FIELDS.find((f) => input[f] !== undefined);
      if (wrong) throw invalidField(wrong, 'is only allowed on s3 targets');
    }
    await this.checkEndpoint(input.endpoint);
    try {
      const row = await this.catalog.targets.update(id, {
        name: input.name,
        path: input.path,
        s3Endpoint: input.endpoint,
        s3Bucket: input.bucket,
        s3Prefix: input.prefix,
        s3Region: input.region,
        s3AccessKey: input.accessKey,
        s3SecretEnc: input.secretKey === undefined ? undefined : this.seal(id, input.secretKey),
      });
      return view(row);
    } catch (err) {
      throw translate(err, input.name, id);
    }
  }

  async remove(id: string): Promise<void> {
    if (!UUID_RE.test(id)) throw notFound('target', id);
    try {
      await this.catalog.targets.remove(id);
    } catch (err) {
      throw translate(err, undefined, id);
    }
  }

  async test(id: string): Promise<ProbeResult> {
    const t = await this.find(id);
    const onUnexpected = (err: unknown): void =>
      this.logger.warn({ err, targetId: id }, 'target probe failed unexpectedly');
    if (t.kind !== 's3') {
      const result = await probeTarget(() => FsBackend.open(t.path ?? ''), onUnexpected);
      const fsType = result.reachable ? await fileSystemType(t.path ?? '') : undefined;
      return fsType ? { ...result, fsType } : result;
    }
    if (!t.s3Endpoint || !t.s3Bucket || !t.s3AccessKey || !t.s3SecretEnc) {
      throw new ApiError('INTERNAL', `target ${id} is an s3 target with missing settings`);
    }
    const options = {
      endpoint: t.s3Endpoint,
      bucket: t.s3Bucket,
      prefix: t.s3Prefix ?? '',
      region: t.s3Region ?? undefined,
      accessKey: t.s3AccessKey,
      secretKey: openWithServerKey(
        this.keys,
        PURPOSE,
        recordIds.targetCredentials(id),
        parseSealed(t.s3SecretEnc),
      ).toString('utf8'),
      retry: PROBE_S3_RETRY,
      requestTimeoutMs: PROBE_S3_TIMEOUT_MS,
      // Checked again at connect time: the name may resolve elsewhere than when it was checked.
      agent: (secure: boolean, agentOptions: AgentOptions) => this.outbound.createAgent(secure, agentOptions),
    };
    // One answer for a closed port, a filtered one, a denied address and a server that is not S3
    // (or lacks the bucket): otherwise the probe is a port scanner. The reason goes to the log only.
    const unreachable = (why: unknown): ProbeResult => {
      this.logger.info({ targetId: id, why }, 'target probe: unreachable');
      return UNREACHABLE;
    };
    try {
      await this.outbound.check(new URL(t.s3Endpoint).hostname);
    } catch (err) {
      return unreachable(err);
    }
    const result = await probeTarget(() => S3Backend.open(options), onUnexpected);
    return result.reachable ? result : unreachable(result.error);
  }

  private async find(id: string): Promise<Target> {
    const row = UUID_RE.test(id) ? await this.catalog.targets.find(id) : null;
    if (!row) throw notFound('target', id);
    return row;
  }

  private seal(id: string, secretKey: string): string {
    return formatSealed(sealWithServerKey(this.keys, PURPOSE, recordIds.targetCredentials(id), secretKey));
  }
}

function translate(err: unknown, name?: string, id?: string): unknown {
  switch (isCatalogError(err) ? err.code : undefined) {
    case 'CONFLICT':
      return new ApiError('CONFLICT', `a target named ${JSON.stringify(name)} already exists`, [
        { path: 'name', message: 'is already used by another target' },
      ]);
    case 'NOT_FOUND':
      return notFound('target', id ?? '');
    case 'FOREIGN_KEY':
      // plan_targets.target_id is ON DELETE RESTRICT; the database decides, race-free.
      return new ApiError(
        'CONFLICT',
        `target ${JSON.stringify(id)} is used by a plan; detach it from its plans first`,
      );
    default:
      return err;
  }
}
