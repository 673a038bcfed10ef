/** `vswapper host`: the host-wide arbiter over several VMs' control sockets (src/pager/host/). */
export {
  runArbiter,
  HostInputError,
  type ArbiterOptions,
  type ArbiterResult,
} from '../pager/host/arbiter.js';
export { parseSize } from '../pager/control/sizes.js';
