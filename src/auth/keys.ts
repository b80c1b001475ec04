import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export type Role = 'admin' | 'tenant' | 'ingest';

/** Who a request is. `tenantId` is absent only for the bootstrap admin. */
export interface Principal {
  role: Role;
  tenantId?: string;
  /** First characters of the key, safe to log. */
  keyPrefix: string;
  /** The key's id (as in the keys API): what it leased quota under is kept apart from other keys'. */
  keyId: string;
}

const KEY_PREFIX: Record<Role, string> = { admin: 'il_admin_', tenant: 'il_tenant_', ingest: 'il_ingest_' };

/** 32 random bytes: high entropy, so a plain SHA-256 (no salt, no KDF) is a safe stored form. */
export function generateKey(role: Role): string {
  return KEY_PREFIX[role] + randomBytes(32).toString('base64url');
}

export function hashKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** Constant-time comparison of two hex digests of equal length. */
export function digestsEqual(a: string, b: string): boolean {
  const ba = Buffer.from(a, 'hex');
  const bb = Buffer.from(b, 'hex');
  return ba.length === bb.length && timingSafeEqual(ba, bb);
}

/** A key's public id: the first 16 hex digits of its SHA-256 (`hashKey`). */
export const keyIdOf = (hash: string): string => hash.slice(0, 16);

export function keyPrefix(key: string): string {
  return key.slice(0, Math.min(key.length, 16));
}

/** What a key may be: 16 to 512 characters that an `Authorization: Bearer` token can carry. */
export const BEARER_TOKEN_PATTERN = /^[A-Za-z0-9_\-.~+/=]{16,512}$/;
export const BEARER_TOKEN_RULE = '16 to 512 characters of A-Z a-z 0-9 and - . _ ~ + / = (what an Authorization: Bearer token can carry)';

/** Extracts the token of `Authorization: Bearer <token>`; undefined when absent or malformed. */
export function bearerToken(header: string | undefined): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return m?.[1] !== undefined && BEARER_TOKEN_PATTERN.test(m[1]) ? m[1] : undefined;
}
