/** Injection tokens for values (not classes) the app provides. */
export const API_CONFIG = Symbol('API_CONFIG');
export const LOGGER = Symbol('LOGGER');
export const SERVER_KEYS = Symbol('SERVER_KEYS');
/** Argon2id cost of new repositories' key files (`RepoKdf`, undefined = the engine's default). */
export const REPO_KDF = Symbol('REPO_KDF');
