export {
  recordIds,
  SERVER_KEY_PURPOSES,
  SecretsError,
  ServerKeys,
  formatSealed,
  openWithServerKey,
  parseSealed,
  sealWithServerKey,
  serverKeys,
} from './server-keys';
export type { SealedBox, SecretsErrorCode, ServerKeyPurpose } from './server-keys';
export { PASSWORD_ENVELOPE_TTL_MS, openPasswordEnvelope, sealPasswordEnvelope } from './password-envelope';
