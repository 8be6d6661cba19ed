// What the WebGPU adapter offers here: its features (with and without
// Dawn's unsafe APIs, which experimental features such as
// chromium-experimental-subgroup-matrix sit behind), the WGSL language
// features, the subgroup sizes and the limits the kernels care about. A
// probe for reports, not a test: it asserts nothing.
//
//   node --import tsx bench/gpu-features.ts
export {};
const { create, globals } = (await import('webgpu')) as unknown as { create(flags: string[]): GPU; globals: Record<string, unknown> };
for (const [k, v] of Object.entries(globals)) if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;

for (const flags of [[], ['enable-dawn-features=allow_unsafe_apis']]) {
  const gpu = create(flags);
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) {
    console.log(`flags [${flags.join(' ')}]: no adapter`);
    continue;
  }
  const info = adapter.info as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number };
  console.log(`flags [${flags.join(' ')}]: ${info.vendor} ${info.architecture} ${info.device} ${info.description}; subgroup sizes ${info.subgroupMinSize}..${info.subgroupMaxSize}`);
  console.log(`  features: ${[...adapter.features].sort().join(', ')}`);
  console.log(`  wgsl language features: ${[...((gpu as unknown as { wgslLanguageFeatures?: Set<string> }).wgslLanguageFeatures ?? [])].sort().join(', ')}`);
  const l = adapter.limits;
  console.log(`  limits: workgroup storage ${l.maxComputeWorkgroupStorageSize}, invocations ${l.maxComputeInvocationsPerWorkgroup}, storage binding ${l.maxStorageBufferBindingSize}`);
  if (adapter.features.has('chromium-experimental-subgroup-matrix' as GPUFeatureName)) {
    const device = await adapter.requestDevice({ requiredFeatures: ['chromium-experimental-subgroup-matrix' as GPUFeatureName] });
    const cfgs = (adapter.info as unknown as { subgroupMatrixConfigs?: unknown[] }).subgroupMatrixConfigs;
    // The configs' fields are getters on their prototype: name them.
    const fields = (c: unknown) => {
      const o = c as Record<string, unknown>;
      return `${o.componentType}->${o.resultComponentType} ${o.M}x${o.N}x${o.K}`;
    };
    console.log(`  subgroup matrix configs: ${cfgs ? cfgs.map(fields).join(', ') : 'not listed'}`);
    device.destroy();
  }
}
process.exit(0);
