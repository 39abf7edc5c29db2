/**
 * Moving values between the host and a device backend, and the checks that keep one op's inputs on one
 * backend.
 *
 * `toHost(t)` is the differentiable bridge of a device training step: the network runs on the device,
 * the loss (BCE, the size loss, which samples masks from the logits) on the host:
 *
 *   const logits = model.forward(xDev);            // device, synchronous
 *   const host = await toHost(logits);             // the one read-back of the step
 *   const loss = bceWithLogits(host, target);      // host
 *   loss.backward();                               // host → toHost's backward uploads the gradient → device
 *
 * Reads are asynchronous (the device finishes the queued kernels first); uploads are synchronous for the
 * caller, which is why the backward of a read can be an upload but there is no differentiable upload
 * (its backward would have to read synchronously).
 */
import { record } from '../engine.js';
import { Tensor } from '../tensor.js';

/**
 * The values of `t` as a host tensor (float32), recorded on the tape: gradients of the result flow back
 * to `t` as device tensors. A host tensor is returned as it is.
 */
export async function toHost(t: Tensor): Promise<Tensor> {
  const device = t.device;
  if (!device) return t;
  const out = new Tensor(await device.read(), t.shape);
  return record(out, 'toHost', [t], (g) => {
    const values = g.dtype === 'float32' ? g.values() : g.to('float32').values();
    // upload copies the values now, so handing over a view of g's storage is safe
    return [Tensor.onDevice(device.upload(values as Float32Array), t.shape)];
  });
}

/** A device tensor on the same device as `like`, holding `values` (copied now). */
export function uploadLike(like: Tensor, values: Float32Array, shape: readonly number[]): Tensor {
  if (!like.device) throw new Error(`uploadLike: ${like} is a host tensor; it names no device.`);
  return Tensor.onDevice(like.device.upload(values), shape);
}

/**
 * Throws when the tensors of one op live on different backends, naming each and the fix. Returns the
 * common backend ('cpu' when all are host tensors).
 */
export function sameBackend(op: string, tensors: readonly Tensor[]): string {
  const first = tensors[0];
  if (!first) return 'cpu';
  const backend = first.backend;
  for (let i = 1; i < tensors.length; i++) {
    const t = tensors[i] as Tensor;
    if (t.backend !== backend) {
      const device = backend !== 'cpu' ? backend : t.backend;
      throw new Error(
        `${op}: input 0 ${first} lives on '${backend}' but input ${i} ${t} on '${t.backend}'; one op needs all its inputs on one backend. ` +
          `Upload host tensors with backendInstance('${device}').upload(t) (a model's parameters with model.to('${device}')), ` +
          `or bring device results to the host with await toHost(t).`,
      );
    }
  }
  return backend;
}
