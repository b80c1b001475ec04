import type { InferenceSession } from 'onnxruntime-node';
import type { ModelRegistry, ResolvedModel } from '../../src/sidecar/models/types.ts';

/**
 * A real model registry whose sessions' `run` goes through `around` first, so a test can hold,
 * fail or inspect runs (and adjust what a name resolves to) while the real session computes.
 */
export function registryAround(
  models: ModelRegistry,
  around: (tenantId: string, feeds: InferenceSession.FeedsType, run: () => Promise<InferenceSession.ReturnType>) => Promise<InferenceSession.ReturnType>,
  adjust: (tenantId: string, resolved: ResolvedModel) => Partial<ResolvedModel> = () => ({}),
): ModelRegistry {
  return {
    ...models,
    resolve(tenantId, name) {
      const resolved = models.resolve(tenantId, name);
      if (!resolved) return undefined;
      const real = resolved.session;
      const run = (feeds: InferenceSession.FeedsType) => around(tenantId, feeds, () => real.run(feeds));
      return { ...resolved, ...adjust(tenantId, resolved), session: { run } as unknown as InferenceSession };
    },
  };
}
