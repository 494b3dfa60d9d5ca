export type { Tokenizer } from './types.js';
export { GPT2Tokenizer, GPT2_EOS_TEXT, type GPT2EncodeOptions } from './gpt2.js';
export { ByteTokenizer, type ByteTokenizerOptions } from './byte.js';
