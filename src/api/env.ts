import type { Principal } from '../auth/keys.ts';

/**
 * Hono context variables of the one app. `principal` is set by `requireRole` (API routes),
 * `tenantId` by `resolveTenant` (inference routes); each is read only behind its middleware.
 */
export type AppEnv = { Variables: { principal: Principal; tenantId: string } };
