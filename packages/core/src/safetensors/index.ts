// Safetensors I/O (https://github.com/huggingface/safetensors): streaming, validated load;
// atomic, byte-compatible save.
export {
  readSafetensorsHeader,
  SafetensorsError,
  SUPPORTED_DTYPES,
  type SafetensorsDType,
  type SafetensorsHeader,
  type SafetensorsTensorInfo,
} from './header.js';
export { loadSafetensors, loadSafetensorsWithMetadata, type LoadSafetensorsOptions, type SafetensorsContents } from './read.js';
export { saveSafetensors } from './write.js';
