import { lstatSync, rmSync } from 'node:fs';
import { connect } from 'node:net';

/** The control socket's path is in use: another daemon answers there, or it is not a socket. */
export class ControlSocketBusyError extends Error {
  override name = 'ControlSocketBusyError';
}

/**
 * Whether `path` can become our control socket: free, or a stale socket no process listens on
 * (left by a daemon that died; removed here). A live socket, or a file of another kind, is refused:
 * binding over it would cut another VM's operator off, or destroy a file.
 */
export async function claimSocketPath(path: string): Promise<void> {
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return;
  }
  if (!st.isSocket())
    throw new ControlSocketBusyError(`${path} exists and is not a socket: choose another control path`);
  const live = await new Promise<boolean>((res) => {
    const c = connect(path);
    c.once('connect', () => {
      c.destroy();
      res(true);
    });
    c.once('error', () => res(false));
  });
  if (live)
    throw new ControlSocketBusyError(
      `${path}: another process listens on this control socket (another vswapper vm?): choose another path`,
    );
  rmSync(path, { force: true });
}
