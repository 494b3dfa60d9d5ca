// Error messages: a bad argument must say what is wrong, where, and what would be valid.
// These assert on message content, not only that something throws.
import { describe, expect, it } from 'vitest';
import { Generator, arange, backward, functional as F, nn, ones, randint, tensor, zeros, type Tensor } from '../src/index.js';
import { KERNEL_MODES, withKernels } from './unit-helpers.js';

function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(Error);
    return (e as Error).message;
  }
  throw new Error('expected the call to throw');
}

describe.each(KERNEL_MODES)('error messages (%s kernels)', (mode) => {
  withKernels(mode);

  describe('matmul', () => {
    it('names both shapes and the inner sizes on a mismatch', () => {
      const msg = messageOf(() => F.matmul(zeros([2, 3]), zeros([4, 5])));
      expect(msg).toMatch(/matmul/);
      expect(msg).toMatch(/\[2, 3\]/);
      expect(msg).toMatch(/\[4, 5\]/);
      expect(msg).toMatch(/2x3 and 4x5/);
      expect(() => F.matmul(zeros([3]), zeros([4]))).toThrow(/matmul.*\[1, 3\]|matmul.*\[3\]/);
      expect(() => F.matmul(zeros([2, 3]), zeros([2]))).toThrow(/matmul/);
    });

    it('names both batch shapes when batch dims cannot broadcast', () => {
      expect(() => F.matmul(zeros([2, 3, 4]), zeros([3, 4, 5]))).toThrow(/matmul.*\[2\].*\[3\].*broadcast/);
    });

    it('refuses integer inputs naming the argument and dtype', () => {
      expect(() => F.matmul(tensor([[1n]]), zeros([1, 1]))).toThrow(/matmul: input must be a floating-point tensor.*int64/);
      expect(() => F.matmul(zeros([1, 1]), tensor(Int32Array.of(1), { shape: [1, 1] }))).toThrow(/matmul: other .*floating.*int32/);
    });

    it('refuses 0-d operands', () => {
      expect(() => F.matmul(tensor(2), zeros([2]))).toThrow(/matmul.*at least 1 dimension.*\[\]/);
    });
  });

  describe('broadcasting', () => {
    it('names the op, both shapes and the clashing dim', () => {
      const msg = messageOf(() => F.add(zeros([2, 3]), zeros([4])));
      expect(msg).toMatch(/^add:/);
      expect(msg).toMatch(/\[2, 3\].*\[4\]/);
      expect(msg).toMatch(/broadcast/);
      expect(msg).toMatch(/3 and 4/);
      expect(() => F.mul(zeros([2, 3]), zeros([3, 2]))).toThrow(/mul:.*\[2, 3\].*\[3, 2\]/);
      expect(() => F.maximum(zeros([2]), zeros([3]))).toThrow(/maximum:.*\[2\].*\[3\]/);
      expect(() => F.where(zeros([2]), zeros([3]), 0)).toThrow(/where:.*\[2\].*\[3\]/);
      expect(() => F.maskedFill(zeros([2]), zeros([2, 2]), 0)).toThrow(/maskedFill.*\[2, 2\].*\[2\]/);
    });

    it('non-tensor operands are named', () => {
      expect(() => F.add(zeros([2]), [1, 2] as never)).toThrow(/add: other must be a Tensor or a number, got an array/);
      expect(() => F.mul(zeros([2]), 'x' as never)).toThrow(/mul: other must be a Tensor or a number, got string x/);
    });
  });

  describe('dtype checks', () => {
    it('softmax / logSoftmax / layerNorm / gelu need floating point', () => {
      expect(() => F.softmax(tensor(Int32Array.of(1, 2)))).toThrow(/softmax: input must be a floating-point tensor.*int32/);
      expect(() => F.logSoftmax(tensor([1n]))).toThrow(/logSoftmax.*floating.*int64/);
      expect(() => F.layerNorm(tensor([1n, 2n]), [2])).toThrow(/layerNorm.*floating.*int64/);
      expect(() => F.gelu(tensor([1n]))).toThrow(/gelu.*floating.*int64/);
      expect(() => F.scaledDotProductAttention(tensor([[1n]]), zeros([1, 1]), zeros([1, 1]))).toThrow(/scaledDotProductAttention: query .*int64/);
      expect(() => F.crossEntropy(tensor([[1n, 2n]]), tensor([0n]))).toThrow(/crossEntropy: input .*floating.*int64/);
    });

    it('embedding ids and crossEntropy targets must be integers', () => {
      expect(() => F.embedding(tensor([0.5]), zeros([3, 2]))).toThrow(/embedding: input must be an integer tensor.*float32/);
      expect(() => F.crossEntropy(zeros([2, 3]), tensor([0, 1]))).toThrow(/crossEntropy: target must be an integer tensor.*float32/);
    });

    it('requiresGrad_ on an integer tensor', () => {
      expect(() => tensor([1n]).requiresGrad_()).toThrow(/requiresGrad_.*floating-point.*int64/);
      expect(() => tensor([1, 2], { dtype: 'int32', requiresGrad: true })).toThrow(/requiresGrad_.*int32/);
    });

    it('unknown dtype names list the valid ones', () => {
      expect(() => tensor([1], { dtype: 'float64' as never })).toThrow(/unknown dtype "float64".*float32, float16, bfloat16, int32, int64/);
    });

    it('cat of mixed dtypes names the tensor', () => {
      expect(() => F.cat([zeros([1]), tensor([1n])])).toThrow(/cat: tensor 1 has dtype int64, expected float32/);
    });
  });

  describe('dims', () => {
    it('out-of-range dims name the op, the dim and the valid range', () => {
      const x = zeros([2, 3]);
      expect(() => F.sum(x, 2)).toThrow(/sum: dim 2 is out of range for a tensor with 2 dims \(expected -2\.\.1\)/);
      expect(() => F.mean(x, [-3])).toThrow(/mean: dim -3 .*expected -2\.\.1/);
      expect(() => F.softmax(x, 5)).toThrow(/softmax: dim 5/);
      expect(() => F.transpose(x, 0, 2)).toThrow(/transpose: dim 2/);
      expect(() => F.narrow(x, 3, 0, 1)).toThrow(/narrow: dim 3/);
      expect(() => F.max(x, -3)).toThrow(/max: dim -3/);
      expect(() => F.amax(x, 7)).toThrow(/amax: dim 7/);
      expect(() => F.cat([x, x], 2)).toThrow(/cat: dim 2/);
      expect(() => F.stack([x, x], 4)).toThrow(/stack: dim 4.*3 dims/);
      expect(() => F.unsqueeze(x, 3)).toThrow(/unsqueeze: dim 3.*expected -3\.\.2/);
      expect(() => F.squeeze(x, 2)).toThrow(/squeeze: dim 2/);
      expect(() => F.flatten(x, 0, 2)).toThrow(/flatten: dim 2/);
      expect(() => F.split(x, 1, 2)).toThrow(/split: dim 2/);
      expect(() => F.sum(x, 0.5)).toThrow(/sum: dim 0\.5/);
      expect(() => x.size(2)).toThrow(/size: dim 2 is out of range for a tensor with 2 dims/);
      expect(() => x.size(-3)).toThrow(/size: dim -3/);
      expect(() => tensor(1).size(0)).toThrow(/size: dim 0 .*0-d/);
      expect(tensor(1).size()).toEqual([]);
    });

    it('repeated dims in a reduction or permute', () => {
      expect(() => F.sum(zeros([2, 3]), [0, -2])).toThrow(/sum: dim \[0,-2\] repeats a dimension/);
      expect(() => F.permute(zeros([2, 3]), [0, 0])).toThrow(/permute: dims \[0, 0\] repeat a dimension/);
      expect(() => F.permute(zeros([2, 3]), [0])).toThrow(/permute: got 1 dims \[0\] for a tensor with 2 dims/);
    });

    it('narrow, split and cat ranges', () => {
      expect(() => F.narrow(zeros([2, 5]), 1, 3, 3)).toThrow(/narrow: start 3 \+ length 3 exceeds dimension 1 of size 5/);
      expect(() => F.split(zeros([5]), [2, 2])).toThrow(/split: sizes \[2, 2\] sum to 4 but dimension 0 has size 5/);
      expect(() => F.split(zeros([5]), 0)).toThrow(/split: split size must be a positive integer, got 0/);
      expect(() => F.cat([zeros([2, 3]), zeros([2, 4])], 0)).toThrow(/cat: tensor 1 has shape \[2, 4\].*\[2, 3\] outside dim 0/);
      expect(() => F.cat([])).toThrow(/cat: expected a non-empty list/);
    });
  });

  describe('reshape / view / expand', () => {
    it('incompatible sizes name the target and the element count', () => {
      expect(() => F.reshape(zeros([2, 3]), [4, 2])).toThrow(/reshape: shape \[4, 2\] is invalid for input of size 6/);
      expect(() => zeros([2, 3]).reshape(-1, 4)).toThrow(/reshape: shape \[-1, 4\] is invalid for input of size 6/);
      expect(() => zeros([2, 3]).reshape(-1, -1)).toThrow(/reshape: only one dimension can be -1/);
      expect(() => zeros([2, 3]).reshape(2, -3)).toThrow(/reshape: invalid size -3/);
      expect(() => zeros([2, 3]).view(5)).toThrow(/view: shape \[5\] is invalid for input of size 6/);
    });

    it('view on a non-viewable layout', () => {
      const msg = messageOf(() => zeros([2, 3]).T.view(6));
      expect(msg).toMatch(/view/);
      expect(msg).toMatch(/\[3, 2\]/);
      expect(msg).toMatch(/strides \[1, 3\]/);
      expect(msg).toMatch(/reshape\(\)|contiguous\(\)/);
    });

    it('expand to an incompatible shape', () => {
      expect(() => zeros([2, 3]).expand(2, 4)).toThrow(/expand: the input's size 3 at dim 1 must match 4 \(or be 1\) in \[2, 4\]/);
      expect(() => zeros([2, 3]).expand(3)).toThrow(/expand: target \[3\] has fewer dims than the input \[2, 3\]/);
      expect(() => zeros([2]).expand(-1, 2)).toThrow(/expand: -1 is not allowed for the new leading dim 0 in \[-1, 2\]/);
    });

    it('T on a non-2-D tensor', () => {
      expect(() => zeros([2]).T).toThrow(/T: expected a 2-D tensor, got 1 dims/);
    });
  });

  describe('nn ops', () => {
    it('embedding id out of range names the id, its position and the valid range', () => {
      const w = zeros([5, 2]);
      expect(() => F.embedding(tensor([1n, 4n, 7n]), w)).toThrow(/embedding.*(ids\[2\] = 7|id 7 at position 2).*\[0, 5\)/);
      expect(() => F.embedding(tensor([[0n, -1n]]), w)).toThrow(/embedding.*(ids\[1\] = -1|id -1 at position 1).*\[0, 5\)/);
      expect(() => F.embedding(tensor(Int32Array.of(0, 5)), w)).toThrow(/embedding.*(ids\[1\] = 5|id 5 at position 1)/);
      expect(() => F.embedding(tensor([2n ** 40n]), w)).toThrow(/embedding.*1099511627776/);
      expect(() => F.embedding(tensor([0n]), zeros([5]))).toThrow(/embedding: weight must have 2 dims, got shape \[5\]/);
      expect(() => F.embedding([0] as never, w)).toThrow(/embedding: input must be a Tensor, got an array/);
    });

    it('crossEntropy target out of range and shape mismatch', () => {
      const logits = zeros([3, 4]);
      expect(() => F.crossEntropy(logits, tensor([0n, 4n, 1n]))).toThrow(/crossEntropy.*(targets\[1\] = 4|target 4 at row 1).*\[0, 4\)/);
      expect(() => F.crossEntropy(logits, tensor([0n, -1n, 1n]))).toThrow(/crossEntropy.*(targets\[1\] = -1|target -1 at row 1)/);
      // ignoreIndex targets are fine
      expect(() => F.crossEntropy(logits, tensor([0n, -100n, 1n]))).not.toThrow();
      expect(() => F.crossEntropy(logits, tensor([0n, 1n]))).toThrow(/crossEntropy: target shape \[2\] does not match input shape \[3, 4\]/);
      expect(() => F.crossEntropy(logits, tensor([[0n, 1n, 2n]]))).toThrow(/crossEntropy: target shape \[1, 3\] does not match input shape \[3, 4\]/);
      expect(() => F.crossEntropy(zeros([2, 3, 4]), tensor([0n]))).toThrow(/crossEntropy: input must have 1 or 2 dims, got shape \[2, 3, 4\]/);
      expect(() => F.crossEntropy(logits, tensor([0n, 1n, 2n]), { reduction: 'none' as never })).toThrow(/reduction must be 'mean' or 'sum', got "none"/);
    });

    it('layerNorm normalizedShape and parameter shape mismatches', () => {
      expect(() => F.layerNorm(zeros([2, 3]), [4])).toThrow(/layerNorm: normalizedShape \[4\] must match the trailing dims of the input \[2, 3\]/);
      expect(() => F.layerNorm(zeros([3]), [2, 3])).toThrow(/layerNorm: normalizedShape \[2, 3\].*\[3\]/);
      expect(() => F.layerNorm(zeros([2, 3]), [3], zeros([2]))).toThrow(/layerNorm: weight has shape \[2\], expected \[3\]/);
      expect(() => F.layerNorm(zeros([2, 3]), [3], null, zeros([3, 1]))).toThrow(/layerNorm: bias has shape \[3, 1\], expected \[3\]/);
      expect(() => new nn.LayerNorm(4).call(zeros([2, 3]))).toThrow(/normalizedShape \[4\].*\[2, 3\]/);
    });

    it('attention shape checks', () => {
      expect(() => F.scaledDotProductAttention(zeros([2, 4]), zeros([2, 3]), zeros([2, 3]))).toThrow(
        /scaledDotProductAttention: incompatible shapes query \[2, 4\], key \[2, 3\], value \[2, 3\]/,
      );
      expect(() => F.scaledDotProductAttention(zeros([2, 4]), zeros([3, 4]), zeros([3, 4]), { isCausal: true })).toThrow(/isCausal.*2 and 3/);
    });

    it('gelu and dropout argument checks', () => {
      expect(() => F.gelu(zeros([1]), 'erf' as never)).toThrow(/gelu: approximate must be 'none' or 'tanh', got "erf"/);
      expect(() => F.dropout(zeros([1]), 1.5)).toThrow(/dropout: probability must be in \[0, 1\], got 1\.5/);
    });

    it('Linear with the wrong input width names the matmul shapes', () => {
      const lin = new nn.Linear(3, 2, { generator: new Generator(1) });
      expect(() => lin.call(zeros([4, 5]))).toThrow(/(matmul|addmm|linear).*\[4, 5\].*\[3, 2\]/);
    });
  });

  describe('tensor accessors and creation', () => {
    it('item() on a multi-element tensor names the count and shape', () => {
      expect(() => zeros([2, 3]).item()).toThrow(/item\(\): a tensor with 6 elements \(shape \[2, 3\]\) cannot be converted to a scalar/);
      expect(() => zeros([0]).item()).toThrow(/0 elements/);
    });

    it('ragged nested arrays and bad shapes', () => {
      expect(() => tensor([[1, 2], [3]])).toThrow(/tensor: ragged nested array at \[1\]: expected length 2/);
      expect(() => tensor(Float32Array.of(1, 2, 3), { shape: [2, 2] })).toThrow(/tensor: shape \[2, 2\] holds 4 elements but the data has 3/);
      expect(() => zeros([2, -1])).toThrow(/empty: invalid shape \[2, -1\]/);
      expect(() => ones([1.5])).toThrow(/invalid shape \[1\.5\]/);
      expect(() => randint(5, 5, [2])).toThrow(/randint: high \(5\) must be greater than low \(5\)/);
      expect(() => arange(0, 1, 0)).toThrow(/arange: step must be non-zero/);
    });
  });

  describe('autograd misuse', () => {
    it('in-place op on a leaf requiring grad outside noGrad', () => {
      const p = zeros([2], { requiresGrad: true });
      expect(() => p.add_(1)).toThrow(/add_: a tensor that requires grad is being modified in place; wrap the update in noGrad/);
      expect(() => p.copy_(ones([2]))).toThrow(/copy_: .*requires grad.*noGrad/);
      expect(() => p.mul_(2)).toThrow(/mul_:/);
      expect(() => p.fill_(2)).toThrow(/fill_:/);
      // also on a non-leaf that requires grad
      const y = F.mul(p, 2);
      expect(() => y.zero_()).toThrow(/fill_:.*noGrad/);
    });

    it('backward errors', () => {
      expect(() => zeros([1]).backward()).toThrow(/does not require grad.*noGrad/);
      const x = ones([2], { requiresGrad: true });
      expect(() => F.mul(x, 2).backward()).toThrow(/grad can be implicitly created only for scalar outputs.*\[2\]/);
      expect(() => backward(F.mul(x, 2), zeros([3]))).toThrow(/backward: grad has shape \[3\] but the output has shape \[2\]/);
      const y = F.sum(F.exp(x));
      y.backward();
      expect(() => y.backward()).toThrow(/backward through \w+ a second time.*retainGraph: true/);
    });

    it('hooks and retainGrad on tensors that do not require grad', () => {
      expect(() => zeros([1]).registerHook(() => {})).toThrow(/registerHook: cannot register a hook on a tensor that doesn't require grad/);
      expect(() => zeros([1]).retainGrad()).toThrow(/retainGrad/);
      const x: Tensor = ones([1], { requiresGrad: true });
      expect(() => F.mul(x, 2).registerPostAccumulateGradHook(() => {})).toThrow(/only leaf tensors/);
    });
  });

  describe('nn misuse', () => {
    it('setData dtype mismatch', () => {
      expect(() => zeros([2]).setData(zeros([2], { dtype: 'float16' }))).toThrow(/setData: dtype float16 does not match float32 \(pass { changeDtype: true } to cast in place\)/);
    });

    it('flattenTensors dtype mismatch names the tensor', async () => {
      const { flattenTensors } = await import('../src/index.js');
      expect(() => flattenTensors([zeros([1]), zeros([1], { dtype: 'float16' })])).toThrow(/flatten: tensor 1 has dtype float16, expected float32/);
    });
  });
});
