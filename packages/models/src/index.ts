// @ds/models: model definitions with Hugging Face weight names, and tokenizers.
export * from './gpt2/index.js';
export * from './tokenizer/index.js';
