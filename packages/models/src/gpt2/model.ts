// GPT-2 (Hugging Face architecture): learned token + position embeddings, pre-LN blocks
// with fused-qkv causal attention and a GELU MLP, final LayerNorm, LM head tied to wte.
// Linear layers use GPT-2's Conv1D layout, weight [in, out]: y = x W + b.
import { functional as F, Generator, nn, noGrad, randn, zeros, type Tensor } from '@ds/core';
import { resolveConfig, type GPT2Config } from './config.js';


/** y = x W + b with W [nx, nf] (GPT-2's transposed linear). */
export class Conv1D extends nn.Module {
  readonly weight: nn.Parameter;
  readonly bias: nn.Parameter;

  constructor(nf: number, nx: number, std: number, generator: Generator) {
    super();
    this.weight = this.registerParameter('weight', new nn.Parameter(randn([nx, nf], { generator }).mul(std)))!;
    this.bias = this.registerParameter('bias', new nn.Parameter(zeros([nf])))!;
  }

  forward(x: Tensor): Tensor {
    const lead = x.shape.slice(0, -1);
    const y = F.addmm(this.bias, x.reshape(-1, x.shape[x.ndim - 1]!), this.weight);
    return y.reshape(...lead, this.bias.shape[0]!);
  }
}

export class GPT2Attention extends nn.Module {
  readonly c_attn: Conv1D;
  readonly c_proj: Conv1D;
  readonly nHead: number;

  constructor(cfg: GPT2Config, generator: Generator) {
    super();
    this.nHead = cfg.n_head;
    const std = cfg.initializer_range;
    this.c_attn = this.registerModule('c_attn', new Conv1D(3 * cfg.n_embd, cfg.n_embd, std, generator));
    // GPT-2 scales residual projections by 1/sqrt(2 * n_layer) at init.
    this.c_proj = this.registerModule('c_proj', new Conv1D(cfg.n_embd, cfg.n_embd, std / Math.sqrt(2 * cfg.n_layer), generator));
  }

  forward(x: Tensor): Tensor {
    const [b, t, c] = x.shape as [number, number, number];
    const h = this.nHead;
    const d = c / h;
    // [B, T, 3C] -> [3, B, H, T, D] in one copy, so q, k and v are contiguous slices.
    const qkv = this.c_attn.forward(x).reshape(b, t, 3, h, d).permute(2, 0, 3, 1, 4).contiguous();
    const [q, k, v] = qkv.split(1, 0).map((s) => s.squeeze(0)) as [Tensor, Tensor, Tensor];
    const y = F.scaledDotProductAttention(q, k, v, { isCausal: true });
    return this.c_proj.forward(y.transpose(1, 2).reshape(b, t, c));
  }
}

export class GPT2MLP extends nn.Module {
  readonly c_fc: Conv1D;
  readonly c_proj: Conv1D;

  constructor(cfg: GPT2Config, generator: Generator, readonly approximate: 'none' | 'tanh') {
    super();
    const inner = cfg.n_inner ?? 4 * cfg.n_embd;
    const std = cfg.initializer_range;
    this.c_fc = this.registerModule('c_fc', new Conv1D(inner, cfg.n_embd, std, generator));
    this.c_proj = this.registerModule('c_proj', new Conv1D(cfg.n_embd, inner, std / Math.sqrt(2 * cfg.n_layer), generator));
  }

  forward(x: Tensor): Tensor {
    return this.c_proj.forward(F.gelu(this.c_fc.forward(x), this.approximate));
  }
}

export class GPT2Block extends nn.Module {
  readonly ln_1: nn.LayerNorm;
  readonly attn: GPT2Attention;
  readonly ln_2: nn.LayerNorm;
  readonly mlp: GPT2MLP;

  constructor(cfg: GPT2Config, generator: Generator) {
    super();
    this.ln_1 = this.registerModule('ln_1', new nn.LayerNorm(cfg.n_embd, cfg.layer_norm_epsilon));
    this.attn = this.registerModule('attn', new GPT2Attention(cfg, generator));
    this.ln_2 = this.registerModule('ln_2', new nn.LayerNorm(cfg.n_embd, cfg.layer_norm_epsilon));
    const approximate = cfg.activation_function === 'gelu' ? 'none' : 'tanh';
    this.mlp = this.registerModule('mlp', new GPT2MLP(cfg, generator, approximate));
  }

  forward(x: Tensor): Tensor {
    const h = F.add(x, this.attn.call(this.ln_1.forward(x)) as Tensor);
    return F.add(h, this.mlp.call(this.ln_2.forward(h)) as Tensor);
  }
}

export class GPT2Model extends nn.Module {
  readonly wte: nn.Embedding;
  readonly wpe: nn.Embedding;
  readonly h: nn.ModuleList<GPT2Block>;
  readonly ln_f: nn.LayerNorm;
  readonly drop: nn.Dropout;

  constructor(readonly config: GPT2Config, generator: Generator) {
    super();
    this.wte = this.registerModule('wte', new nn.Embedding(config.vocab_size, config.n_embd, { generator }));
    this.wpe = this.registerModule('wpe', new nn.Embedding(config.n_positions, config.n_embd, { generator }));
    noGrad(() => {
      this.wte.weight.mul_(config.initializer_range);
      this.wpe.weight.mul_(config.initializer_range);
    });
    this.drop = this.registerModule('drop', new nn.Dropout(config.embd_pdrop, generator));
    this.h = this.registerModule('h', new nn.ModuleList(Array.from({ length: config.n_layer }, () => new GPT2Block(config, generator))));
    this.ln_f = this.registerModule('ln_f', new nn.LayerNorm(config.n_embd, config.layer_norm_epsilon));
  }

  /** Hidden states after ln_f, [B, T, C]. `onHidden` sees the embeddings and each block's output. */
  forward(inputIds: Tensor, onHidden?: (i: number, h: Tensor) => void): Tensor {
    if (inputIds.ndim !== 2) {
      throw new RangeError(`GPT2Model.forward: inputIds must be [batch, seq], got shape [${inputIds.shape.join(', ')}]`);
    }
    const t = inputIds.shape[1]!;
    if (t > this.config.n_positions) {
      throw new RangeError(`GPT2Model.forward: sequence length ${t} exceeds n_positions (${this.config.n_positions})`);
    }
    const pos = this.wpe.weight.narrow(0, 0, t);
    let x = this.drop.forward(F.add(this.wte.forward(inputIds), pos));
    onHidden?.(0, x);
    let i = 1;
    for (const block of this.h) {
      x = block.call(x) as Tensor;
      onHidden?.(i++, x);
    }
    x = this.ln_f.forward(x);
    onHidden?.(i, x);
    return x;
  }
}

/** GPT-2 with the LM head tied to the token embedding (no separate lm_head.weight). */
export class GPT2LMHeadModel extends nn.Module {
  readonly config: GPT2Config;
  readonly transformer: GPT2Model;
  /** `__metadata__` of the safetensors file the weights were loaded from (written back on save). */
  checkpointMetadata: Record<string, string> = {};

  constructor(config: Partial<GPT2Config> = {}, opts: { seed?: number } = {}) {
    super();
    this.config = resolveConfig(config);
    this.transformer = this.registerModule('transformer', new GPT2Model(this.config, new Generator(opts.seed ?? 0)));
  }

  /**
   * Logits [B, T, V] for token ids [B, T]; with `targets` [B, T], the mean cross entropy
   * instead (ignoreIndex -100), as Hugging Face's `labels=` gives, through the fused
   * F.linearCrossEntropy: the [B*T, V] logits never exist whole.
   */
  forward(inputIds: Tensor, targets?: Tensor): Tensor {
    const h = this.transformer.forward(inputIds);
    const w = this.transformer.wte.weight;
    if (targets) return F.linearCrossEntropy(h.reshape(-1, this.config.n_embd), w, targets.reshape(-1));
    return F.matmul(h, w.transpose(0, 1));
  }

  /** Mean cross entropy of the next-token logits against `targets` [B, T] (ignoreIndex -100). */
  loss(inputIds: Tensor, targets: Tensor): Tensor {
    // Through forward: wrappers of forward (ZeRO-3 gathers the tied LM-head weight there) see it.
    return this.forward(inputIds, targets);
  }

  /** Load a Hugging Face style directory (config.json + model.safetensors). */
  static async fromPretrained(dir: string): Promise<GPT2LMHeadModel> {
    const { fromPretrained } = await import('./pretrained.js');
    return fromPretrained(dir);
  }

  /** Write config.json + model.safetensors with Hugging Face names (bit-exact round trip). */
  async savePretrained(dir: string): Promise<void> {
    const { savePretrained } = await import('./pretrained.js');
    return savePretrained(this, dir);
  }

  numParameters(): number {
    return this.parameters().reduce((n, p) => n + p.numel, 0);
  }
}

