// createEngine's use of checkFit (browser and Node alike): the settings to
// load with (a context shortened when none was asked for, 'auto' resolved to
// the GPU layers that fit), a ModelTooLargeError when the asked settings do
// not fit, and the estimate added to engine.info() for comparison with what
// the load really took.
import type { CheckFitOptions, CreateEngineOptions, FitReport, HobEngine, ModelInput } from '../shared/types.js';
import { settingsToLoad } from '../runtime/fit.js';

export interface FitDecision {
  report: FitReport;
  /** What createEngine passes on: only what the check decided. */
  settings: Pick<CreateEngineOptions, 'contextSize' | 'gpuLayers'>;
}

/** The model as createEngine has it (Node adds paths). */
type AnyModel = ModelInput | { path: string };

/** Runs the check and turns its verdict into settings, or throws ModelTooLargeError. */
export async function decideFit<M extends AnyModel>(
  check: (model: M, opts: CheckFitOptions) => Promise<FitReport>,
  model: M,
  opts: Omit<CreateEngineOptions, 'model'>,
): Promise<FitDecision | undefined> {
  // A load cancelled already fails as it always has, in openEngine.
  if (opts.signal?.aborted) return undefined;
  let report: FitReport;
  try {
    report = await check(model, {
      contextSize: opts.contextSize,
      gpuLayers: opts.gpuLayers,
      budget: opts.budget,
      threads: opts.threads,
      hubEndpoint: opts.hubEndpoint,
      signal: opts.signal,
    });
  } catch {
    // A header that cannot be read without the whole download (a server
    // without Range support) is judged by the load itself; so is a model that
    // cannot be read at all (the loader's own error names the problem) and a
    // cancellation (it reads as the load's).
    return undefined;
  }
  const s = settingsToLoad(report);
  return {
    report,
    settings: {
      contextSize: s.contextSize,
      // 'auto' takes the check's choice where it knew the GPU (else the worker decides).
      ...(opts.gpuLayers === 'auto' && report.limits.gpuBudgetBytes !== undefined ? { gpuLayers: s.gpuLayers } : {}),
    },
  };
}

/** engine.info() with the check's estimate in load.estimate. */
export function withEstimate(engine: HobEngine, report: FitReport): HobEngine {
  const info = engine.info.bind(engine);
  engine.info = async () => {
    const i = await info();
    return { ...i, load: { ...i.load, estimate: report.estimate } };
  };
  return engine;
}
