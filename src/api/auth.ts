import type { MiddlewareHandler } from 'hono';
import { bearerToken, type Role } from '../auth/keys.ts';
import type { KeyService } from '../auth/key-service.ts';
import { AppError } from '../errors.ts';

export type { AppEnv as AuthEnv } from './env.ts';
import type { AppEnv } from './env.ts';

/**
 * Requires a valid bearer key with one of `roles`. Missing/unknown key: 401; a valid key with
 * the wrong role: 403 (the caller knows who it is, so nothing is leaked by saying so).
 */
export const requireRole = (keys: KeyService, roles: readonly Role[]): MiddlewareHandler<AppEnv> =>
  async function requireRoleMiddleware(c, next) {
    const token = bearerToken(c.req.header('authorization'));
    if (!token) throw new AppError('unauthenticated', 'missing or malformed `Authorization: Bearer <key>` header', { code: 'missing_key' });
    const principal = await keys.authenticate(token);
    if (!principal) throw new AppError('unauthenticated', 'invalid API key', { code: 'invalid_key' });
    if (!roles.includes(principal.role)) {
      throw new AppError('forbidden', `this endpoint needs a key with role ${roles.join(' or ')}`, { code: 'wrong_role' });
    }
    c.set('principal', principal);
    c.header('Cache-Control', 'no-store');
    await next();
  };
