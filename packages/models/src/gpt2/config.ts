// GPT-2 hyperparameters under Hugging Face's config.json names.

export interface GPT2Config {
  vocab_size: number;
  n_positions: number;
  n_embd: number;
  n_layer: number;
  n_head: number;
  /** MLP width; null means 4 * n_embd. */
  n_inner: number | null;
  activation_function: 'gelu_new' | 'gelu' | 'gelu_pytorch_tanh';
  layer_norm_epsilon: number;
  resid_pdrop: number;
  embd_pdrop: number;
  attn_pdrop: number;
  initializer_range: number;
  tie_word_embeddings: boolean;
}

export const GPT2_DEFAULTS: GPT2Config = {
  vocab_size: 50257,
  n_positions: 1024,
  n_embd: 768,
  n_layer: 12,
  n_head: 12,
  n_inner: null,
  activation_function: 'gelu_new',
  layer_norm_epsilon: 1e-5,
  resid_pdrop: 0.1,
  embd_pdrop: 0.1,
  attn_pdrop: 0.1,
  initializer_range: 0.02,
  tie_word_embeddings: true,
};

const ACTIVATIONS = ['gelu_new', 'gelu', 'gelu_pytorch_tanh'];

/** Fill defaults and check that the sizes fit together; errors name the key. */
export function resolveConfig(partial: Partial<GPT2Config> & Record<string, unknown>, where = 'GPT2Config'): GPT2Config {
  const cfg = { ...GPT2_DEFAULTS, ...partial } as GPT2Config;
  for (const key of ['vocab_size', 'n_positions', 'n_embd', 'n_layer', 'n_head'] as const) {
    const v = cfg[key];
    if (!Number.isInteger(v) || v <= 0) throw new RangeError(`${where}: ${key} must be a positive integer, got ${JSON.stringify(v)}`);
  }
  if (cfg.n_embd % cfg.n_head !== 0) {
    throw new RangeError(`${where}: n_embd (${cfg.n_embd}) must be divisible by n_head (${cfg.n_head})`);
  }
  if (!ACTIVATIONS.includes(cfg.activation_function)) {
    throw new RangeError(`${where}: activation_function ${JSON.stringify(cfg.activation_function)} is not supported; expected one of ${ACTIVATIONS.join(', ')}`);
  }
  if (cfg.tie_word_embeddings === false) {
    throw new RangeError(`${where}: tie_word_embeddings=false is not supported (GPT-2 ties the LM head to wte)`);
  }
  return cfg;
}
