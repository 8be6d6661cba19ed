// Compiled compute pipelines and pipeline layouts, cached per device and
// shared by every Kernels made on it (a model reload or a second model
// compiles nothing again), and the bind groups over them. Creates no buffer.

const pipelineCache = new WeakMap<GPUDevice, Map<string, GPUComputePipeline>>();
const layoutCache = new WeakMap<GPUDevice, Map<string, GPUPipelineLayout>>();

export class Pipelines {
  private readonly pipelines: Map<string, GPUComputePipeline>;
  private readonly layouts: Map<string, GPUPipelineLayout>;

  constructor(readonly device: GPUDevice) {
    let cache = pipelineCache.get(device);
    if (!cache) pipelineCache.set(device, (cache = new Map()));
    this.pipelines = cache;
    let layouts = layoutCache.get(device);
    if (!layouts) layoutCache.set(device, (layouts = new Map()));
    this.layouts = layouts;
  }

  /** A pipeline of the WGSL files `parts` joined, with the directives the
   * fast paths need in front. */
  get(key: string, parts: string[], entryPoint: string, constants?: Record<string, number>, layout?: GPUPipelineLayout): GPUComputePipeline {
    let code = parts.join('\n');
    let directives = '';
    if (code.includes('subgroupShuffle') || code.includes('@builtin(subgroup_id)')) directives += 'enable subgroups;\n';
    if (code.includes('@builtin(subgroup_id)')) directives += 'requires subgroup_id;\n';
    if (code.includes('dot4I8Packed')) directives += 'requires packed_4x8_integer_dot_product;\n';
    if (code.includes('subgroupMatrixLoad')) directives += 'enable chromium_experimental_subgroup_matrix;\n';
    code = directives + code;
    const fullKey = `${key}|${directives}|${entryPoint}|${JSON.stringify(constants ?? {})}`;
    let p = this.pipelines.get(fullKey);
    if (!p) {
      const module = this.device.createShaderModule({ label: key, code });
      p = this.device.createComputePipeline({ label: key, layout: layout ?? 'auto', compute: { module, entryPoint, constants } });
      this.pipelines.set(fullKey, p);
    }
    return p;
  }

  /** A pipeline layout of bindings 0, 1, … of the given kinds, shared by
   * every entry point of a file whose entry points use different subsets
   * (created once per device; a layout is not a buffer). */
  layout(key: string, kinds: GPUBufferBindingType[]): GPUPipelineLayout {
    let layout = this.layouts.get(key);
    if (!layout) {
      const bgl = this.device.createBindGroupLayout({
        label: key,
        entries: kinds.map((type, binding) => ({ binding, visibility: GPUShaderStage.COMPUTE, buffer: { type } })),
      });
      layout = this.device.createPipelineLayout({ label: key, bindGroupLayouts: [bgl] });
      this.layouts.set(key, layout);
    }
    return layout;
  }

  /** Binds buffers to bindings 0, 1, …; null skips a binding the entry point
   * does not use. */
  bindGroup(pipeline: GPUComputePipeline, label: string, buffers: (GPUBuffer | null)[]): GPUBindGroup {
    const entries: GPUBindGroupEntry[] = [];
    buffers.forEach((buffer, binding) => {
      if (buffer) entries.push({ binding, resource: { buffer } });
    });
    return this.device.createBindGroup({ label, layout: pipeline.getBindGroupLayout(0), entries });
  }
}
