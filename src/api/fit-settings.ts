// createEngine's use of checkFit (browser and Node alike): the settings to
// load with (a context shortened when none was asked for; 'auto' is left to
// the loader, which chooses with the same numbers), a ModelTooLargeError when
// the asked settings do not fit (a GpuError when GPU layers are asked for and
// there is no GPU), and the estimate added to engine.info() for comparison
// with what the load really took.
import type { CheckFitOptions, CreateEngineOptions, FitReport, HobEngine, ModelInput } from '../shared/types.js';
import { settingsToLoad } from '../runtime/fit.js';
import { GpuError } from '../shared/errors.js';

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
  // GPU layers asked for on a device without a GPU: the GpuError the load
  // would throw, before anything is downloaded.
  if (report.problems.length > 0 && report.problems.every((p) => p.limit === 'gpu-unavailable')) {
    throw new GpuError('gpu/unavailable', report.problems[0].message, { lost: false });
  }
  const s = settingsToLoad(report);
  // 'auto' stays 'auto': the loader chooses with the same numbers
  // (autoGpuLayers at this context and GPU budget) and reports how.
  return { report, settings: { contextSize: s.contextSize } };
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
