// Test page: the public API (createEngine) as window.hobApi, and a probe of
// the main thread's responsiveness (gaps between animation frames).
import * as hob from '../../../src/api/index.js';

/** Records requestAnimationFrame times until stop() is called; returns the largest gap in ms. */
function frameGaps(): { stop(): { maxGapMs: number; frames: number } } {
  let last = performance.now();
  let maxGapMs = 0;
  let frames = 0;
  let running = true;
  const tick = (t: number) => {
    if (!running) return;
    maxGapMs = Math.max(maxGapMs, t - last);
    last = t;
    frames++;
    requestAnimationFrame(tick);
  };
  requestAnimationFrame((t) => {
    last = t;
    requestAnimationFrame(tick);
  });
  return {
    stop() {
      running = false;
      return { maxGapMs, frames };
    },
  };
}

(window as unknown as { hobApi: typeof hob; frameGaps: typeof frameGaps }).hobApi = hob;
(window as unknown as { frameGaps: typeof frameGaps }).frameGaps = frameGaps;
document.title = 'ready';
