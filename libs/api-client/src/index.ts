/**
 * The typed client of the Vaultline API: openapi-fetch over the types generated from the API's
 * OpenAPI document (src/generated/openapi.ts, `npm run api:client`). Paths, parameters, bodies and
 * responses are checked by the compiler; errors come back as the API's error body.
 *
 *   const api = createApiClient({ baseUrl: 'http://127.0.0.1:8080', token });
 *   const { data, error } = await api.GET('/v1/plans/{id}', { params: { path: { id } } });
 */
import createClient, { type Client, type ClientOptions, type Middleware } from 'openapi-fetch';

import type { components, operations, paths } from './generated/openapi';

export type { components, Middleware, operations, paths };
/** The contract's named schemas: `Schemas['PlanView']`, `Schemas['ErrorBody']`, … */
export type Schemas = components['schemas'];
export type ApiClient = Client<paths>;

export interface ApiClientOptions extends Omit<ClientOptions, 'baseUrl' | 'headers'> {
  /** Where the API listens, e.g. `http://127.0.0.1:8080` (no trailing slash). */
  baseUrl: string;
  /** An API token (create-token); sent as `Authorization: Bearer …`. */
  token?: string;
  /** Sent with every request. */
  headers?: Record<string, string>;
}

export function createApiClient({ baseUrl, token, headers = {}, ...options }: ApiClientOptions): ApiClient {
  return createClient<paths>({
    baseUrl,
    ...options,
    headers: { ...(token === undefined ? {} : { authorization: `Bearer ${token}` }), ...headers },
  });
}
