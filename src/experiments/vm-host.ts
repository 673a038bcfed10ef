/**
 * `vswapper host`: the host-wide arbiter over several VMs' control sockets (src/pager/host/), and
 * the control-socket client it and `vswapper ctl` share.
 */
export {
  runArbiter,
  HostInputError,
  type ArbiterOptions,
  type ArbiterResult,
} from '../pager/host/arbiter.js';
export { parseSize } from '../pager/control/sizes.js';
export { ControlClient, ControlRefusedError } from '../pager/host/control-client.js';
